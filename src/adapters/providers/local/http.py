"""The local provider's routes: the shared upload intake, HLS playback and thumbnails.

Beside the playlists, ``hls/storyboard.vtt`` and ``hls/storyboard.jpg`` give seek previews (a
sprite of tiles every few seconds, and the WebVTT of their ``#xywh`` cues).

HLS files are served from storage with their content types, byte ranges (``FileResponse``) and
CORS for players on other origins. A PRIVATE video's files are served only under
``…/videos/<playback id>/t/<token>/…``: the token is a path segment, so the relative URIs of the
master and media playlists inherit it. Thumbnails follow Mux's image API
(``thumbnail.jpg?time=<s>&width=<px>``, and ``.webp``): rendered from the source on first request,
in a thread, then cached in storage.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import PurePosixPath

from aiohttp import web

from adapters.providers.intake import UploadIntake, intake_routes
from adapters.providers.local import thumbnails
from adapters.providers.local.provider import (
    PREFIX,
    VIDEOS_PATH,
    LocalVideoProvider,
    default_thumbnail_width,
    source_key,
    thumbnail_key,
    video_key,
    within,
)
from adapters.providers.local.thumbnails import ImageFormat
from adapters.providers.routes import ProviderRoute, Resolve
from media_core.errors import InvalidInput, UploadNotFound
from media_core.strict import ascii_int

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
}
IMAGE_TYPES: dict[str, tuple[ImageFormat, str]] = {
    "jpg": ("jpeg", "image/jpeg"),
    "webp": ("webp", "image/webp"),
}
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges",
    "Access-Control-Max-Age": "600",
}
_SECONDS = re.compile(r"[0-9]{1,7}(\.[0-9]{1,6})?")
r"""ASCII digits only ([0-9], not \d, which takes every script's digits)."""
MAX_WIDTH = 3840


def local_routes(provider: Resolve[LocalVideoProvider]) -> tuple[ProviderRoute, ...]:
    """Every route of the local provider, for the composition root to mount."""
    handlers = _LocalRoutes(provider)
    video = f"{VIDEOS_PATH}{{playback_id}}"
    signed = f"{video}/t/{{token}}"
    served: list[ProviderRoute] = []
    for base in (video, signed):
        for method in ("GET", "HEAD"):
            served.append(ProviderRoute(method, f"{base}/hls/{{path:.+}}", handlers.hls_file))
            served.append(
                ProviderRoute(method, f"{base}/thumbnail.{{ext:jpg|webp}}", handlers.thumbnail)
            )
        served.append(ProviderRoute("OPTIONS", f"{base}/hls/{{path:.+}}", handlers.preflight))
    return (*intake_routes(PREFIX, handlers.intake), *served)


class _LocalRoutes:
    """The handlers, bound to the provider (awaited per request: it is built at start-up)."""

    def __init__(self, provider: Resolve[LocalVideoProvider]) -> None:
        self._provider = provider

    async def intake(self) -> UploadIntake:
        """Where the uploads' bytes arrive."""
        return (await self._provider()).intake

    async def preflight(self, _: web.Request) -> web.StreamResponse:
        """CORS preflight of a player that sends ``Range``."""
        return web.Response(status=204, headers=CORS)

    async def hls_file(self, request: web.Request) -> web.StreamResponse:
        """A playlist or segment of a READY video (byte ranges answered by ``FileResponse``)."""
        provider = await self._provider()
        playback_id, token = request.match_info["playback_id"], request.match_info.get("token")
        provider.authorize(playback_id, token)
        relative = PurePosixPath(request.match_info["path"])
        content_type = CONTENT_TYPES.get(relative.suffix)
        if content_type is None:
            raise UploadNotFound("no such file")
        try:
            path = provider.storage.path(video_key(playback_id, "hls", *relative.parts))
        except ValueError as exc:
            raise UploadNotFound("no such file") from exc
        if not await asyncio.to_thread(path.is_file):
            raise UploadNotFound("no such file")
        # A READY video's files never change; playlists are kept briefly, as deletion ends them.
        age = 30 if relative.suffix == ".m3u8" else 86400
        scope = "private" if token else "public"
        response = web.FileResponse(
            path, headers={**CORS, "Cache-Control": f"{scope}, max-age={age}"}
        )
        response.content_type = content_type
        return response

    async def thumbnail(self, request: web.Request) -> web.StreamResponse:
        """``thumbnail.jpg`` or ``.webp`` at ``time`` seconds (default: a representative frame)
        and ``width`` pixels (default: 640, or the video's width if smaller), keeping the aspect.
        """
        provider = await self._provider()
        playback_id, token = request.match_info["playback_id"], request.match_info.get("token")
        provider.authorize(playback_id, token)
        extension = request.match_info["ext"]
        image_format, content_type = IMAGE_TYPES[extension]
        info = await asyncio.to_thread(provider.info, playback_id)
        if "duration" not in info:
            raise UploadNotFound("this video is not ready")
        duration = float(info["duration"])
        at = _time(request.query.get("time"), default=float(info.get("thumbnailTime", 0.0)))
        at = within(at, duration)
        width = _width(
            request.query.get("width"), default=default_thumbnail_width(int(info["width"]))
        )
        key = thumbnail_key(playback_id, at, width, extension)
        cached = await asyncio.to_thread(provider.storage.read, key)
        if cached is not None:
            image = cached
        else:
            source = provider.storage.path(source_key(str(info["uploadId"])))
            async with provider.renders:
                image = await asyncio.to_thread(
                    thumbnails.render_thumbnail,
                    source,
                    time=at,
                    width=width,
                    image_format=image_format,
                )
            await asyncio.to_thread(provider.storage.write, key, image)
        scope = "private" if token else "public"
        return web.Response(
            body=image,
            content_type=content_type,
            headers={
                "Cache-Control": f"{scope}, max-age=86400",
                "Access-Control-Allow-Origin": "*",
            },
        )


def _time(raw: str | None, *, default: float) -> float:
    if raw is None:
        return default
    if _SECONDS.fullmatch(raw) is None:
        raise InvalidInput("time must be a non-negative number of seconds", field="/time")
    return float(raw)


def _width(raw: str | None, *, default: int) -> int:
    if raw is None:
        return default
    width = ascii_int(raw, max_digits=4)
    if width is None or not 16 <= width <= MAX_WIDTH:
        raise InvalidInput(f"width must be a whole number from 16 to {MAX_WIDTH}", field="/width")
    return width
