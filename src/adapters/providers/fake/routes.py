"""Routes of the fake provider: the shared upload intake and playback of stored videos.

Mounted (see :mod:`adapters.providers.routes`) only when the fake provider is in force. Large
files (see ``FAKE_TUS_THRESHOLD_BYTES``) upload over tus 1.0 at ``/api/v1/media/fake/tus/{token}``.
"""

from __future__ import annotations

import html

from aiohttp import web

from adapters.providers.fake.provider import TUS_PATH, FakeVideoProvider
from adapters.providers.intake import UploadIntake, intake_routes
from adapters.providers.routes import ProviderRoute, Resolve


class _FakeRoutes:
    """The handlers, bound to the provider (awaited per request: it is built at start-up)."""

    def __init__(self, provider: Resolve[FakeVideoProvider]) -> None:
        self._provider = provider

    async def intake(self) -> UploadIntake:
        """Where the uploads' bytes arrive."""
        return (await self._provider()).intake

    async def video(self, request: web.Request) -> web.StreamResponse:
        """The stored video file, with Range support, for playback."""
        path, info = (await self._provider()).video_info(
            request.match_info["playback_id"], request.query.get("token")
        )
        response = web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})
        response.content_type = str(info["mimeType"])
        return response

    async def thumbnail(self, request: web.Request) -> web.Response:
        """A placeholder thumbnail (the fake decodes no frames) with the title.

        No duration: the page shows it on the tile, and an image repeating it showed it twice.
        """
        _, info = (await self._provider()).video_info(
            request.match_info["playback_id"], request.query.get("token")
        )
        title = html.escape(str(info.get("title") or "video"))[:60]
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360" '
            'viewBox="0 0 640 360">'
            '<rect width="640" height="360" fill="#1f2937"/>'
            '<polygon points="280,130 280,230 370,180" fill="#f9fafb"/>'
            '<text x="24" y="330" fill="#f9fafb" font-family="sans-serif" font-size="24">'
            f"{title}</text></svg>"
        )
        return web.Response(
            text=svg, content_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"}
        )


def fake_routes(provider: Resolve[FakeVideoProvider]) -> tuple[ProviderRoute, ...]:
    """The fake provider's routes, for the composition root to mount: the shared intake's
    (see :mod:`adapters.providers.intake`) and the stored videos'."""
    handlers = _FakeRoutes(provider)
    return (
        *intake_routes(TUS_PATH.removesuffix("/tus/"), handlers.intake),
        ProviderRoute("GET", "/api/v1/media/fake/videos/{playback_id}/video", handlers.video),
        ProviderRoute(
            "GET", "/api/v1/media/fake/videos/{playback_id}/thumbnail.svg", handlers.thumbnail
        ),
    )
