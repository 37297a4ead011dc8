"""Routes of the fake provider: the upload endpoint and playback of stored videos.

They exist only when the fake provider is in force. Upload URLs are authorised by the signed
token in them (like a provider's pre-signed URL), not by the user's bearer token. Large files (see
``FAKE_TUS_THRESHOLD_BYTES``) upload over tus 1.0 at ``/api/v1/media/fake/tus/{token}``.
"""

from __future__ import annotations

import html
import re

from aiohttp import ClientPayloadError, web

from adapters.providers.fake import FakeVideoProvider, RangeMismatch
from adapters.providers.fake.tus import FakeTusServer, TusReply
from entrypoints.http.keys import CONTAINER, FAKE_PROVIDER
from entrypoints.http.metrics import ObservedRoutes
from entrypoints.http.problems import HttpProblem
from media_core.errors import InvalidInput

_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_QUERY = re.compile(r"^bytes \*/(\d+)$")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "PUT, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Range",
    "Access-Control-Expose-Headers": "Range",
    "Access-Control-Max-Age": "600",
}


def _provider(request: web.Request) -> FakeVideoProvider:
    provider = request.app[FAKE_PROVIDER]
    if provider is None:
        raise HttpProblem("not-found")
    return provider


async def upload_options(_: web.Request) -> web.Response:
    """CORS preflight of the upload URL."""
    return web.Response(status=204, headers=CORS)


async def upload_put(request: web.Request) -> web.Response:
    """``PUT`` the whole file, or one ``Content-Range`` chunk of it (``308`` until complete).

    ``Content-Range: bytes */<size>`` with an empty body asks how much arrived (resuming).
    """
    provider = _provider(request)
    slot = provider.open_slot(request.match_info["token"])
    header = request.headers.get("Content-Range")
    content_range: tuple[int, int, int] | None = None
    if header is not None:
        query = _QUERY.match(header.strip())
        if query:
            return _incomplete(provider.received_bytes(slot))
        match = _RANGE.match(header.strip())
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


def _tus(request: web.Request) -> FakeTusServer:
    max_size = request.app[CONTAINER].settings().max_upload_bytes
    return FakeTusServer(_provider(request), max_size=max_size)


def _tus_response(reply: TusReply) -> web.Response:
    return web.Response(status=reply.status, headers=reply.headers, text=reply.text or None)


async def tus_options(request: web.Request) -> web.Response:
    """tus discovery, and the CORS preflight of the tus upload URL."""
    return _tus_response(_tus(request).options())


async def tus_head(request: web.Request) -> web.Response:
    """tus ``HEAD``: the stored offset of the upload."""
    return _tus_response(_tus(request).head(request.match_info["token"], request.headers))


async def tus_patch(request: web.Request) -> web.Response:
    """tus ``PATCH``: append bytes at ``Upload-Offset``."""
    try:
        reply = await _tus(request).patch(
            request.match_info["token"],
            request.headers,
            request.content.iter_chunked(256 * 1024),
        )
    except (ClientPayloadError, ConnectionResetError):
        # The client went away mid-body; what arrived is stored and a HEAD will say so.
        return web.Response(status=400, text="the request body was cut short")
    return _tus_response(reply)


def _incomplete(received: int) -> web.Response:
    headers = dict(CORS)
    if received:
        headers["Range"] = f"bytes=0-{received - 1}"
    return web.Response(status=308, headers=headers)


async def video(request: web.Request) -> web.StreamResponse:
    """The stored video file, with Range support, for playback."""
    path, info = _provider(request).video_info(
        request.match_info["playback_id"], request.query.get("token")
    )
    response = web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})
    response.content_type = str(info["mimeType"])
    return response


async def thumbnail(request: web.Request) -> web.Response:
    """A placeholder thumbnail (the fake decodes no frames): the title and the duration."""
    _, info = _provider(request).video_info(
        request.match_info["playback_id"], request.query.get("token")
    )
    title = html.escape(str(info.get("title") or "video"))[:60]
    duration = info.get("duration") or 0.0
    minutes, seconds = divmod(int(duration), 60)
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360" viewBox="0 0 640 360">'
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


def add_fake_routes(app: web.Application) -> None:
    """Mount the fake provider's routes."""
    routes = ObservedRoutes(app)
    routes.add_route("OPTIONS", "/api/v1/media/fake/uploads/{token}", upload_options)
    routes.add_put("/api/v1/media/fake/uploads/{token}", upload_put)
    routes.add_route("OPTIONS", "/api/v1/media/fake/tus/{token}", tus_options)
    routes.add_route("HEAD", "/api/v1/media/fake/tus/{token}", tus_head)
    routes.add_route("PATCH", "/api/v1/media/fake/tus/{token}", tus_patch)
    routes.add_get("/api/v1/media/fake/videos/{playback_id}/video", video)
    routes.add_get("/api/v1/media/fake/videos/{playback_id}/thumbnail.svg", thumbnail)
