"""Routes of the fake provider: the upload endpoint and playback of stored videos.

Mounted (see :mod:`adapters.providers.routes`) only when the fake provider is in force. Upload URLs
are authorised by the signed token in them (like a provider's pre-signed URL), not by the user's
bearer token. Large files (see ``FAKE_TUS_THRESHOLD_BYTES``) upload over tus 1.0 at
``/api/v1/media/fake/tus/{token}``.
"""

from __future__ import annotations

import html
import re

from aiohttp import ClientPayloadError, web

from adapters.providers.fake.provider import FakeVideoProvider, RangeMismatch
from adapters.providers.fake.tus import FakeTusServer, TusReply
from adapters.providers.routes import ProviderRoute, Resolve
from media_core.errors import InvalidInput

# ASCII digits only ([0-9], not \d, which takes every script's digits), at most 18 of them.
_RANGE = re.compile(r"bytes ([0-9]{1,18})-([0-9]{1,18})/([0-9]{1,18})")
_QUERY = re.compile(r"bytes \*/([0-9]{1,18})")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "PUT, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Range",
    "Access-Control-Expose-Headers": "Range",
    "Access-Control-Max-Age": "600",
}


class _FakeRoutes:
    """The handlers, bound to the provider (awaited per request: it is built at start-up)."""

    def __init__(self, provider: Resolve[FakeVideoProvider], *, max_upload_bytes: int) -> None:
        self._provider = provider
        self._max_upload_bytes = max_upload_bytes

    async def upload_options(self, _: web.Request) -> web.Response:
        """CORS preflight of the upload URL."""
        return web.Response(status=204, headers=CORS)

    async def upload_put(self, request: web.Request) -> web.Response:
        """``PUT`` the whole file, or one ``Content-Range`` chunk of it (``308`` until complete).

        ``Content-Range: bytes */<size>`` with an empty body asks how much arrived (resuming).
        """
        provider = await self._provider()
        slot = provider.open_slot(request.match_info["token"])
        header = request.headers.get("Content-Range")
        content_range: tuple[int, int, int] | None = None
        if header is not None:
            query = _QUERY.fullmatch(header.strip())
            if query:
                return _incomplete(provider.received_bytes(slot))
            match = _RANGE.fullmatch(header.strip())
            if not match:
                raise InvalidInput(
                    "Content-Range must be 'bytes <first>-<last>/<size>'", field="/Content-Range"
                )
            first, last, total = (int(group) for group in match.groups())
            if last < first:
                raise InvalidInput("Content-Range ends before it starts", field="/Content-Range")
            content_range = (first, last, total)
        try:
            result = await provider.receive(
                slot, request.content.iter_chunked(256 * 1024), content_range
            )
        except RangeMismatch as exc:
            response = _incomplete(exc.received)
            response.set_status(409)
            return response
        if not result.complete:
            return _incomplete(result.received)
        return web.Response(status=200, headers=CORS)

    async def _tus(self) -> FakeTusServer:
        return FakeTusServer(await self._provider(), max_size=self._max_upload_bytes)

    async def tus_options(self, _: web.Request) -> web.Response:
        """tus discovery, and the CORS preflight of the tus upload URL."""
        return _tus_response((await self._tus()).options())

    async def tus_head(self, request: web.Request) -> web.Response:
        """tus ``HEAD``: the stored offset of the upload."""
        return _tus_response((await self._tus()).head(request.match_info["token"], request.headers))

    async def tus_patch(self, request: web.Request) -> web.Response:
        """tus ``PATCH``: append bytes at ``Upload-Offset``."""
        try:
            reply = await (await self._tus()).patch(
                request.match_info["token"],
                request.headers,
                request.content.iter_chunked(256 * 1024),
            )
        except (ClientPayloadError, ConnectionResetError):
            # The client went away mid-body; what arrived is stored and a HEAD will say so.
            return web.Response(status=400, text="the request body was cut short")
        return _tus_response(reply)

    async def video(self, request: web.Request) -> web.StreamResponse:
        """The stored video file, with Range support, for playback."""
        path, info = (await self._provider()).video_info(
            request.match_info["playback_id"], request.query.get("token")
        )
        response = web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})
        response.content_type = str(info["mimeType"])
        return response

    async def thumbnail(self, request: web.Request) -> web.Response:
        """A placeholder thumbnail (the fake decodes no frames): the title and the duration."""
        _, info = (await self._provider()).video_info(
            request.match_info["playback_id"], request.query.get("token")
        )
        title = html.escape(str(info.get("title") or "video"))[:60]
        duration = info.get("duration") or 0.0
        minutes, seconds = divmod(int(duration), 60)
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360" '
            'viewBox="0 0 640 360">'
            '<rect width="640" height="360" fill="#1f2937"/>'
            '<polygon points="280,130 280,230 370,180" fill="#f9fafb"/>'
            '<text x="24" y="330" fill="#f9fafb" font-family="sans-serif" font-size="24">'
            f"{title}</text>"
            f'<text x="616" y="40" fill="#f9fafb" font-family="sans-serif" font-size="22" '
            f'text-anchor="end">{minutes}:{seconds:02d}</text></svg>'
        )
        return web.Response(
            text=svg, content_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"}
        )


def _tus_response(reply: TusReply) -> web.Response:
    return web.Response(status=reply.status, headers=reply.headers, text=reply.text or None)


def _incomplete(received: int) -> web.Response:
    headers = dict(CORS)
    if received:
        headers["Range"] = f"bytes=0-{received - 1}"
    return web.Response(status=308, headers=headers)


def fake_routes(
    provider: Resolve[FakeVideoProvider], *, max_upload_bytes: int
) -> tuple[ProviderRoute, ...]:
    """The fake provider's routes, for the composition root to mount."""
    handlers = _FakeRoutes(provider, max_upload_bytes=max_upload_bytes)
    return (
        ProviderRoute("OPTIONS", "/api/v1/media/fake/uploads/{token}", handlers.upload_options),
        ProviderRoute("PUT", "/api/v1/media/fake/uploads/{token}", handlers.upload_put),
        ProviderRoute("OPTIONS", "/api/v1/media/fake/tus/{token}", handlers.tus_options),
        ProviderRoute("HEAD", "/api/v1/media/fake/tus/{token}", handlers.tus_head),
        ProviderRoute("PATCH", "/api/v1/media/fake/tus/{token}", handlers.tus_patch),
        ProviderRoute("GET", "/api/v1/media/fake/videos/{playback_id}/video", handlers.video),
        ProviderRoute(
            "GET", "/api/v1/media/fake/videos/{playback_id}/thumbnail.svg", handlers.thumbnail
        ),
    )
