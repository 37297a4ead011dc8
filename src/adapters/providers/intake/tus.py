"""The intake's tus 1.0 server core: the resumable half of the protocol, framework-free.

Creation happens in our create route (the upload resource exists as soon as the ticket does, as
with Cloudflare Stream's direct creator uploads), so this core answers only what a client does next:

- ``OPTIONS``: discovery (``Tus-Version``, ``Tus-Max-Size``), also the CORS preflight;
- ``HEAD``: ``Upload-Offset`` (the bytes stored) and ``Upload-Length``, never cached;
- ``PATCH``: append at ``Upload-Offset``, which must equal the bytes stored (else 409 with the
  real offset); ``Content-Type: application/offset+octet-stream`` (else 415); answers 204 with
  the new offset. The last byte finishes the upload: the fake then sends its webhooks.

Every request but ``OPTIONS`` must carry ``Tus-Resumable: 1.0.0`` (else 412 with
``Tus-Version``), and every answer carries it. Bodies stream to disk in constant memory; bytes
that arrive before a connection is cut stay stored, which is what makes resuming work.
Termination (``DELETE``) is not offered: cancelling goes through the service's cancel route, which
tells the provider.

The HTTP layer turns a :class:`TusReply` into a response; errors that are not protocol answers
(an unknown or expired URL) are raised as ``media_core.errors`` like everywhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from attrs import field, frozen

from adapters.providers.intake._store import RangeMismatch, UploadIntake
from media_core.strict import ascii_int

TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "HEAD, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Tus-Resumable, Upload-Offset, Upload-Length, Upload-Metadata, Content-Type, "
        "X-Requested-With, X-HTTP-Method-Override"
    ),
    "Access-Control-Expose-Headers": (
        "Tus-Resumable, Tus-Version, Tus-Max-Size, Tus-Extension, Upload-Offset, Upload-Length"
    ),
    "Access-Control-Max-Age": "600",
}


@frozen
class TusReply:
    """A protocol answer: status, headers and a short plain-text body for people."""

    status: int
    headers: Mapping[str, str] = field(factory=dict)
    text: str = ""


class TusServer:
    """tus 1.0 (core protocol) over an :class:`UploadIntake`."""

    def __init__(self, intake: UploadIntake) -> None:
        self._intake = intake
        self._max_size = intake.max_size

    def options(self) -> TusReply:
        """``OPTIONS``: the versions and limits this server supports."""
        headers = {**CORS, "Tus-Resumable": TUS_VERSION, "Tus-Version": TUS_VERSION}
        if self._max_size is not None:
            headers["Tus-Max-Size"] = str(self._max_size)
        return TusReply(204, headers)

    def head(self, token: str, headers: Mapping[str, str]) -> TusReply:
        """``HEAD``: how many bytes are stored, out of how many."""
        refused = _version_check(headers)
        if refused is not None:
            return refused
        slot = self._intake.open_slot(token, finished_ok=True)
        offset = slot.size if self._intake.finished(slot) else self._intake.received_bytes(slot)
        return TusReply(
            200,
            _common(
                {
                    "Upload-Offset": str(offset),
                    "Upload-Length": str(slot.size),
                    "Cache-Control": "no-store",
                }
            ),
        )

    async def patch(
        self, token: str, headers: Mapping[str, str], body: AsyncIterator[bytes]
    ) -> TusReply:
        """``PATCH``: append ``body`` at ``Upload-Offset``; 204 with the new offset."""
        refused = _version_check(headers)
        if refused is not None:
            return refused
        content_type = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != OFFSET_CONTENT_TYPE:
            return TusReply(415, _common({}), f"Content-Type must be {OFFSET_CONTENT_TYPE}")
        offset = ascii_int(headers.get("Upload-Offset", "").strip())
        if offset is None:
            return TusReply(400, _common({}), "Upload-Offset must be a non-negative integer")
        slot = self._intake.open_slot(token)
        try:
            received = await self._intake.append(slot, body, offset)
        except RangeMismatch as exc:
            return TusReply(
                409,
                _common({"Upload-Offset": str(exc.received)}),
                f"Upload-Offset must be {exc.received}",
            )
        return TusReply(204, _common({"Upload-Offset": str(received.received)}))


def _common(headers: dict[str, str]) -> dict[str, str]:
    return {**CORS, "Tus-Resumable": TUS_VERSION, **headers}


def _version_check(headers: Mapping[str, str]) -> TusReply | None:
    if headers.get("Tus-Resumable", "").strip() == TUS_VERSION:
        return None
    return TusReply(
        412,
        {**CORS, "Tus-Resumable": TUS_VERSION, "Tus-Version": TUS_VERSION},
        f"send Tus-Resumable: {TUS_VERSION}",
    )
