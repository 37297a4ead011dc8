"""The fake provider: a real, local video platform for the embedded default and for tests.

It behaves like Mux where it matters: the browser (or curl) PUTs the bytes to a URL the provider
issued (one PUT, or chunked PUTs with ``Content-Range`` answered by ``308`` until complete), then
the provider calls back with signed webhooks on the seed's normalized route: PROCESSING, then READY
with the duration read from the file and a thumbnail URL; or FAILED when the bytes do not match the
declared size or type. With ``tus_threshold`` set it also behaves like Cloudflare Stream: files of
at least that many bytes get a tus 1.0 upload resource instead (see :mod:`.tus`), so the resumable
path is exercised for real. An interrupted chunked PUT stores nothing of that chunk (as a resumable
PUT endpoint commits whole chunks), while an interrupted tus PATCH keeps what arrived: tus resumes
from the offset the server reports.

Upload URLs carry a signed, expiring token, so they work across restarts without server state.
Bytes stream to ``<data_dir>/incoming`` in constant memory; finished videos live in
``<data_dir>/videos`` and are served back for playback (signed for PRIVATE).

Deterministic and drivable: ids of deliveries derive from the upload id, time comes from the
injected clock, and with ``auto_deliver=False`` webhooks wait in :attr:`outbox` until a test calls
:meth:`FakeVideoProvider.flush`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from attrs import frozen

from adapters.providers.fake.media import FAMILIES, probe_duration, sniff_family
from adapters.webhooks.normalized import sign_normalized
from media_core.errors import InvalidInput, UploadNotFound
from media_core.events import ProviderEvent
from media_core.model import MediaUpload, UploadProtocol, Visibility
from media_core.ports import Clock, DirectUploadRequest, DirectUploadTicket, Playback
from media_core.strict import ascii_int, plausible_id

log = logging.getLogger("adapters.providers.fake")

WebhookSender = Callable[[bytes, Mapping[str, str]], Awaitable[None]]
"""Sends one signed webhook (raw body, headers) to the service."""

EXTENSIONS = {
    "video/mp4": ".mp4",
    "video/x-m4v": ".m4v",
    "video/quicktime": ".mov",
    "video/3gpp": ".3gp",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "video/mpeg": ".mpg",
}
CHUNK_SIZE = 8 * 1024 * 1024
UPLOAD_PATH = "/api/v1/media/fake/uploads/"
TUS_PATH = "/api/v1/media/fake/tus/"
ASSET_PATH = "/api/v1/media/fake/videos/"


@frozen
class UploadSlot:
    """What an upload token promises: which upload, how many bytes of what type, until when."""

    upload_id: str
    size: int
    mime_type: str
    visibility: Visibility
    title: str
    expires_at: int


@frozen
class Received:
    """The outcome of one PUT: bytes stored so far, and whether the upload is complete."""

    received: int
    complete: bool


class RangeMismatch(InvalidInput):
    """A chunk does not start where the stored bytes end; ``received`` says where they do."""

    code = "upload-range-mismatch"
    title = "Upload range mismatch"

    def __init__(self, detail: str, *, received: int) -> None:
        super().__init__(detail, field="/Content-Range")
        self.received = received


class FakeVideoProvider:
    """A local provider with real upload endpoints and real signed webhooks (see module doc)."""

    name = "fake"

    def __init__(
        self,
        *,
        base_url: str,
        data_dir: Path,
        secret: str,
        webhook_secret: str,
        clock: Clock,
        sender: WebhookSender | None = None,
        processing_delay: float = 0.5,
        upload_ttl: timedelta = timedelta(hours=1),
        auto_deliver: bool = True,
        tus_threshold: int | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.incoming = data_dir / "incoming"
        self.videos = data_dir / "videos"
        self._secret = secret.encode()
        self._webhook_secret = webhook_secret
        self.clock = clock
        self.sender = sender
        self.processing_delay = processing_delay
        self.upload_ttl = upload_ttl
        self.auto_deliver = auto_deliver
        self.tus_threshold = tus_threshold
        """Files of at least this many bytes upload over tus; ``None``: never."""
        self.chunk_size = chunk_size
        """The chunk size the fake advises clients to use (``chunkSize`` of the ticket)."""
        self.outbox: list[tuple[bytes, dict[str, str]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.videos.mkdir(parents=True, exist_ok=True)

    # -- the VideoProvider port -------------------------------------------------------------

    async def create_direct_upload(self, request: DirectUploadRequest) -> DirectUploadTicket:
        """Issue a signed upload URL for ``request``; nothing is stored until bytes arrive.

        The URL is a PUT endpoint, or a tus upload resource when the file is at least
        ``tus_threshold`` bytes (the resource exists at once: the client only HEADs and PATCHes).
        """
        expires = request.now + self.upload_ttl
        slot = UploadSlot(
            upload_id=request.upload_id,
            size=request.file_size,
            mime_type=request.mime_type,
            visibility=request.metadata.visibility,
            title=request.metadata.title or request.file_name,
            expires_at=int(expires.timestamp()),
        )
        if self.tus_threshold is not None and request.file_size >= self.tus_threshold:
            return DirectUploadTicket(
                provider_upload_id=request.upload_id,
                url=f"{self.base_url}{TUS_PATH}{self._token(slot)}",
                protocol=UploadProtocol.TUS,
                method="PATCH",
                expires_at=expires,
                headers={"Tus-Resumable": "1.0.0"},
                chunk_size=self.chunk_size,
            )
        return DirectUploadTicket(
            provider_upload_id=request.upload_id,
            url=f"{self.base_url}{UPLOAD_PATH}{self._token(slot)}",
            protocol=UploadProtocol.PUT,
            method="PUT",
            expires_at=expires,
            headers={"Content-Type": request.mime_type},
            chunk_size=self.chunk_size,
        )

    async def fetch_events(self, upload: MediaUpload, now: datetime) -> Sequence[ProviderEvent]:
        """The fake keeps no state beyond its files; the reconciler learns nothing new here."""
        return ()

    async def cancel_upload(self, upload: MediaUpload) -> None:
        """Refuse further bytes for ``upload`` and drop what arrived."""
        (self.incoming / f"{upload.id}.cancelled").touch()
        with contextlib.suppress(FileNotFoundError):
            (self.incoming / f"{upload.id}.part").unlink()

    async def delete_video(self, upload: MediaUpload) -> None:
        """Delete the stored video and its description."""
        await self.cancel_upload(upload)
        if upload.playback_id:
            for path in self.videos.glob(f"{upload.playback_id}.*"):
                path.unlink(missing_ok=True)

    async def playback(self, upload: MediaUpload, now: datetime) -> Playback:
        """A URL to the stored file (with a signed token for PRIVATE), and the thumbnail."""
        assert upload.playback_id is not None
        base = f"{self.base_url}{ASSET_PATH}{upload.playback_id}"
        if upload.metadata.visibility is not Visibility.PRIVATE:
            return Playback(
                url=f"{base}/video", mime_type=upload.mime_type, thumbnail_url=upload.thumbnail_url
            )
        expires = now + timedelta(hours=1)
        token = self.playback_token(upload.playback_id, int(expires.timestamp()))
        return Playback(
            url=f"{base}/video?token={token}",
            mime_type=upload.mime_type,
            thumbnail_url=f"{base}/thumbnail.svg?token={token}",
            token=token,
            thumbnail_token=token,
            expires_at=expires,
        )

    # -- the upload endpoint's logic --------------------------------------------------------

    def open_slot(self, token: str, *, finished_ok: bool = False) -> UploadSlot:
        """Check an upload token; ``UploadNotFound`` if forged, expired, cancelled or finished.

        With ``finished_ok`` a finished upload is returned too (a tus HEAD after the last PATCH
        reports the full offset rather than 404).
        """
        slot = self._read_token(token)
        if slot is None or slot.expires_at < self.clock.now().timestamp():
            raise UploadNotFound("this upload URL is invalid or has expired")
        if (self.incoming / f"{slot.upload_id}.cancelled").exists():
            raise UploadNotFound("this upload was cancelled")
        if not finished_ok and self.finished(slot):
            raise UploadNotFound("this upload is complete")
        return slot

    def finished(self, slot: UploadSlot) -> bool:
        """True once every byte of ``slot`` arrived (or it failed for good)."""
        return (self.incoming / f"{slot.upload_id}.done").exists()

    def received_bytes(self, slot: UploadSlot) -> int:
        """How many bytes of ``slot`` are stored (for resuming chunked uploads)."""
        try:
            return (self.incoming / f"{slot.upload_id}.part").stat().st_size
        except FileNotFoundError:
            return 0

    async def receive(
        self,
        slot: UploadSlot,
        chunks: AsyncIterator[bytes],
        content_range: tuple[int, int, int] | None,
    ) -> Received:
        """Store one PUT's bytes; finish the upload when the last byte arrives.

        Without ``content_range`` the body is the whole file. With ``(first, last, total)`` it is
        one chunk, which must start where the stored bytes end and declare the file's size.
        """
        lock = self._locks.setdefault(slot.upload_id, asyncio.Lock())
        async with lock:
            part = self.incoming / f"{slot.upload_id}.part"
            start = 0
            if content_range is not None:
                first, _, total = content_range
                stored = self.received_bytes(slot)
                if first != stored:
                    raise RangeMismatch(
                        f"the next chunk must start at byte {stored}, not {first}", received=stored
                    )
                if total != slot.size:
                    raise InvalidInput(
                        f"the total size {total} differs from the declared {slot.size} bytes",
                        field="/Content-Range",
                    )
                start = first
            limit = slot.size - start
            try:
                written = await _write(part, chunks, start, limit)
            except BaseException:
                # A cut connection: keep only the chunks that arrived whole, so that a client
                # retrying this chunk finds the stored bytes ending where the chunk starts.
                await asyncio.to_thread(_truncate, part, start)
                raise
            size = start + written
            if written > limit:
                await self._finish_failed(
                    slot, "size_mismatch", f"more bytes than the declared {slot.size}"
                )
                raise InvalidInput(
                    f"the upload is larger than its declared {slot.size} bytes", field="/fileSize"
                )
            if content_range is not None and size != content_range[1] + 1:
                return Received(received=size, complete=False)
            if content_range is not None and size < slot.size:
                return Received(received=size, complete=False)
            if size != slot.size:
                await self._finish_failed(
                    slot, "size_mismatch", f"received {size} bytes, declared {slot.size}"
                )
                return Received(received=size, complete=True)
            await self._finish(slot)
            return Received(received=size, complete=True)

    async def append(self, slot: UploadSlot, chunks: AsyncIterator[bytes], offset: int) -> Received:
        """Store one tus PATCH body at ``offset``; finish the upload when the last byte arrives.

        ``offset`` must equal the bytes stored (else :class:`RangeMismatch`). Bytes that arrive
        before a connection is cut stay stored: the client resumes from the reported offset.
        """
        lock = self._locks.setdefault(slot.upload_id, asyncio.Lock())
        async with lock:
            if self.finished(slot):
                raise UploadNotFound("this upload is complete")
            part = self.incoming / f"{slot.upload_id}.part"
            stored = self.received_bytes(slot)
            if offset != stored:
                raise RangeMismatch(
                    f"Upload-Offset must be {stored}, the bytes stored, not {offset}",
                    received=stored,
                )
            limit = slot.size - offset
            written = await _write(part, chunks, offset, limit)
            if written > limit:
                await self._finish_failed(
                    slot, "size_mismatch", f"more bytes than the declared {slot.size}"
                )
                raise InvalidInput(
                    f"the upload is larger than its declared {slot.size} bytes", field="/fileSize"
                )
            size = offset + written
            if size == slot.size:
                await self._finish(slot)
                return Received(received=size, complete=True)
            return Received(received=size, complete=False)

    async def _finish_failed(self, slot: UploadSlot, code: str, reason: str) -> None:
        (self.incoming / f"{slot.upload_id}.done").touch()
        (self.incoming / f"{slot.upload_id}.part").unlink(missing_ok=True)
        self._enqueue(
            [
                (
                    0.0,
                    {
                        "eventId": f"fake:{slot.upload_id}:failed",
                        "uploadId": slot.upload_id,
                        "status": "failed",
                        "failureCode": code,
                        "failureReason": reason,
                    },
                )
            ]
        )

    async def _finish(self, slot: UploadSlot) -> None:
        part = self.incoming / f"{slot.upload_id}.part"
        with part.open("rb") as handle:
            head = handle.read(64)
        family = sniff_family(head)
        expected = FAMILIES.get(slot.mime_type)
        if family is None or family != expected:
            found = family or "not a recognised video container"
            await self._finish_failed(
                slot, "type_mismatch", f"declared {slot.mime_type}, but the bytes are {found}"
            )
            return
        playback_id = self.playback_id_for(slot.upload_id)
        video = self.videos / f"{playback_id}{EXTENSIONS.get(slot.mime_type, '.bin')}"
        await asyncio.to_thread(shutil.move, part, video)
        duration = await asyncio.to_thread(probe_duration, video, family)
        (self.videos / f"{playback_id}.json").write_text(
            json.dumps(
                {
                    "mimeType": slot.mime_type,
                    "visibility": slot.visibility.value,
                    "title": slot.title,
                    "file": video.name,
                    "duration": duration,
                }
            )
        )
        (self.incoming / f"{slot.upload_id}.done").touch()
        common = {
            "uploadId": slot.upload_id,
            "providerUploadId": slot.upload_id,
            "assetId": f"fake-asset-{slot.upload_id}",
            "playbackId": playback_id,
        }
        thumbnail = f"{self.base_url}{ASSET_PATH}{playback_id}/thumbnail.svg"
        step = self.processing_delay / 2
        self._enqueue(
            [
                (
                    0.0,
                    {
                        **common,
                        "eventId": f"fake:{slot.upload_id}:p0",
                        "status": "processing",
                        "progress": 0,
                    },
                ),
                (
                    step,
                    {
                        **common,
                        "eventId": f"fake:{slot.upload_id}:p50",
                        "status": "processing",
                        "progress": 50,
                    },
                ),
                (
                    step,
                    {
                        **common,
                        "eventId": f"fake:{slot.upload_id}:ready",
                        "status": "ready",
                        "duration": duration if duration is not None else 0.0,
                        "thumbnailUrl": thumbnail,
                    },
                ),
            ]
        )

    # -- webhooks out -----------------------------------------------------------------------

    def _enqueue(self, steps: list[tuple[float, dict[str, Any]]]) -> None:
        signed = [(delay, self._sign(body)) for delay, body in steps]
        if not self.auto_deliver or self.sender is None:
            self.outbox.extend(item for _, item in signed)
            return
        task = asyncio.get_running_loop().create_task(self._deliver(signed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _sign(self, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        raw = json.dumps(body, separators=(",", ":")).encode()
        return raw, sign_normalized(self._webhook_secret, int(self.clock.now().timestamp()), raw)

    async def _deliver(self, signed: list[tuple[float, tuple[bytes, dict[str, str]]]]) -> None:
        assert self.sender is not None
        for delay, (body, headers) in signed:
            if delay:
                await asyncio.sleep(delay)
            try:
                await self.sender(body, headers)
            except Exception:  # like a real provider: log, and the reconciler catches up
                log.exception("fake provider: webhook delivery failed")

    async def flush(self) -> list[tuple[bytes, dict[str, str]]]:
        """Send (if a sender is set) and return every queued delivery, in order."""
        queued, self.outbox = self.outbox, []
        if self.sender is not None:
            for body, headers in queued:
                await self.sender(body, headers)
        return queued

    async def drain(self) -> None:
        """Wait for deliveries in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel deliveries in flight."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- serving videos back ----------------------------------------------------------------

    def playback_id_for(self, upload_id: str) -> str:
        """The playback id the fake assigns to ``upload_id``."""
        digest = hmac.new(self._secret, f"playback:{upload_id}".encode(), hashlib.sha256)
        return "fpb" + digest.hexdigest()[:29]

    def playback_token(self, playback_id: str, expires_at: int) -> str:
        """A token that lets its bearer fetch a PRIVATE video until ``expires_at``."""
        digest = hmac.new(self._secret, f"play:{playback_id}:{expires_at}".encode(), "sha256")
        return f"{expires_at}.{digest.hexdigest()}"

    def video_info(self, playback_id: str, token: str | None) -> tuple[Path, dict[str, Any]]:
        """The stored file and its description; ``UploadNotFound`` unless it may be served."""
        if not plausible_id(playback_id):
            raise UploadNotFound("no such video")
        try:
            info = json.loads((self.videos / f"{playback_id}.json").read_text())
        except (FileNotFoundError, ValueError) as exc:
            raise UploadNotFound("no such video") from exc
        if info.get("visibility") == Visibility.PRIVATE.value and not self._token_ok(
            playback_id, token
        ):
            raise UploadNotFound("no such video")
        return self.videos / str(info["file"]), info

    def _token_ok(self, playback_id: str, token: str | None) -> bool:
        if not token or "." not in token:
            return False
        expires = ascii_int(token.split(".", 1)[0], max_digits=12)
        if expires is None or expires < self.clock.now().timestamp():
            return False
        return hmac.compare_digest(token, self.playback_token(playback_id, expires))

    # -- tokens -----------------------------------------------------------------------------

    def _token(self, slot: UploadSlot) -> str:
        payload = json.dumps(
            [
                slot.upload_id,
                slot.size,
                slot.mime_type,
                slot.visibility.value,
                slot.title,
                slot.expires_at,
            ],
            separators=(",", ":"),
        ).encode()
        encoded = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        signature = hmac.new(self._secret, encoded.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{encoded}.{signature}"

    def _read_token(self, token: str) -> UploadSlot | None:
        encoded, _, signature = token.partition(".")
        expected = hmac.new(self._secret, encoded.encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            upload_id, size, mime_type, visibility, title, expires_at = json.loads(raw)
            return UploadSlot(
                upload_id=str(upload_id),
                size=int(size),
                mime_type=str(mime_type),
                visibility=Visibility(visibility),
                title=str(title),
                expires_at=int(expires_at),
            )
        except (ValueError, TypeError):
            return None


def _truncate(path: Path, size: int) -> None:
    """Cut ``path`` back to ``size`` bytes (nothing to do when it does not exist)."""
    with contextlib.suppress(FileNotFoundError), path.open("r+b") as handle:
        handle.truncate(size)


async def _write(path: Path, chunks: AsyncIterator[bytes], offset: int, limit: int) -> int:
    """Write ``chunks`` into ``path`` from ``offset``; stop once more than ``limit`` bytes came.

    Returns the number of bytes taken (``limit + 1`` or more means the body was too long).
    The file is opened once; each chunk is written off the event loop, so memory stays at one
    chunk however large the upload.
    """
    mode = "r+b" if offset and await asyncio.to_thread(path.exists) else "wb"
    handle = await asyncio.to_thread(path.open, mode)
    written = 0
    try:
        await asyncio.to_thread(handle.seek, offset)
        await asyncio.to_thread(handle.truncate)
        async for chunk in chunks:
            written += len(chunk)
            if written > limit:
                break
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(handle.flush)
        await asyncio.to_thread(os.fsync, handle.fileno())
    finally:
        await asyncio.to_thread(handle.close)
    return written
