"""The intake's HTTP side: the PUT and tus endpoints of a provider that takes uploads itself.

Upload URLs are authorised by the signed token in them (like a provider's pre-signed URL), not
by the user's bearer token. ``intake_routes`` declares them (see :mod:`adapters.providers.routes`).
"""

from __future__ import annotations

import re

from aiohttp import ClientPayloadError, web

from adapters.providers.intake._store import RangeMismatch, UploadIntake
from adapters.providers.intake.tus import TusReply, TusServer
from adapters.providers.routes import ProviderRoute, Resolve
from media_core.errors import InvalidInput

# ASCII digits only ([0-9], not \d, which takes every script's digits), at most 18 of them.
_RANGE = re.compile(r"bytes ([0-9]{1,18})-([0-9]{1,18})/([0-9]{1,18})")
_QUERY = re.compile(r"bytes \*/([0-9]{1,18})")
_BODY_CHUNK = 256 * 1024
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "PUT, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Range",
    "Access-Control-Expose-Headers": "Range",
    "Access-Control-Max-Age": "600",
}


def intake_routes(prefix: str, intake: Resolve[UploadIntake]) -> tuple[ProviderRoute, ...]:
    """``{prefix}/uploads/{token}`` (PUT) and ``{prefix}/tus/{token}`` (tus 1.0), answered by
    the intake ``intake()`` gives once the application has started."""

    async def upload_options(_: web.Request) -> web.StreamResponse:
        return web.Response(status=204, headers=CORS)

    async def upload_put(request: web.Request) -> web.StreamResponse:
        return await put(request, await intake())

    async def tus_options(_: web.Request) -> web.StreamResponse:
        return _tus_response(TusServer(await intake()).options())

    async def tus_head(request: web.Request) -> web.StreamResponse:
        server = TusServer(await intake())
        return _tus_response(server.head(request.match_info["token"], request.headers))

    async def tus_patch(request: web.Request) -> web.StreamResponse:
        return await patch(request, await intake())

    uploads = f"{prefix}/uploads/{{token}}"
    tus = f"{prefix}/tus/{{token}}"
    return (
        ProviderRoute("OPTIONS", uploads, upload_options),
        ProviderRoute("PUT", uploads, upload_put),
        ProviderRoute("OPTIONS", tus, tus_options),
        ProviderRoute("HEAD", tus, tus_head),
        ProviderRoute("PATCH", tus, tus_patch),
    )


async def put(request: web.Request, intake: UploadIntake) -> web.Response:
    """``PUT`` the whole file, or one ``Content-Range`` chunk of it (``308`` until complete).

    ``Content-Range: bytes */<size>`` with an empty body asks how much arrived (resuming).
    """
    slot = intake.open_slot(request.match_info["token"])
    header = request.headers.get("Content-Range")
    content_range: tuple[int, int, int] | None = None
    if header is not None:
        if _QUERY.fullmatch(header.strip()):
            return _incomplete(intake.received_bytes(slot))
        match = _RANGE.fullmatch(header.strip())
        if not match:
            raise InvalidInput(
                "Content-Range must be 'bytes <first>-<last>/<size>'", field="Content-Range"
            )
        first, last, total = (int(group) for group in match.groups())
        if last < first:
            raise InvalidInput("Content-Range ends before it starts", field="Content-Range")
        content_range = (first, last, total)
    try:
        result = await intake.receive(
            slot, request.content.iter_chunked(_BODY_CHUNK), content_range
        )
    except RangeMismatch as exc:
        response = _incomplete(exc.received)
        response.set_status(409)
        return response
    if not result.complete:
        return _incomplete(result.received)
    return web.Response(status=200, headers=CORS)


async def patch(request: web.Request, intake: UploadIntake) -> web.Response:
    """tus ``PATCH``: append bytes at ``Upload-Offset``."""
    try:
        reply = await TusServer(intake).patch(
            request.match_info["token"], request.headers, request.content.iter_chunked(_BODY_CHUNK)
        )
    except (ClientPayloadError, ConnectionResetError):
        # The client went away mid-body; what arrived is stored and a HEAD will say so.
        return web.Response(status=400, text="the request body was cut short")
    return _tus_response(reply)


def _tus_response(reply: TusReply) -> web.Response:
    return web.Response(status=reply.status, headers=reply.headers, text=reply.text or None)


def _incomplete(received: int) -> web.Response:
    headers = dict(CORS)
    if received:
        headers["Range"] = f"bytes=0-{received - 1}"
    return web.Response(status=308, headers=headers)
