"""Direct-upload intake on this machine: signed upload URLs, whole PUTs, chunks, tus.

The fake and the local provider both take bytes this way, as Mux and Cloudflare do: the client
sends them to a URL the provider issued, with a signed, expiring token in it (so URLs work across
restarts without server state). One PUT carries the whole file, or chunked PUTs with
``Content-Range`` are answered by ``308`` until complete; files of at least ``tus_threshold``
bytes get a tus 1.0 upload resource instead (see :mod:`.tus`). An interrupted chunked PUT stores
nothing of that chunk (as a resumable PUT endpoint commits whole chunks), while an interrupted tus
PATCH keeps what arrived: tus resumes from the offset the server reports.

Bytes stream to ``<directory>/<upload id>.part`` in constant memory. When the last byte arrives
the intake hands the file to its owner (``on_complete``), which takes it away; a size mismatch
is reported through ``on_failed``. Marker files (``.done``, ``.cancelled``) keep the state.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from attrs import frozen

from media_core.errors import InvalidInput, UploadMismatch, UploadNotFound
from media_core.model import UploadProtocol, Visibility
from media_core.ports import Clock, DirectUploadRequest, DirectUploadTicket

CHUNK_SIZE = 8 * 1024 * 1024


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
        super().__init__(detail, field="Content-Range")
        self.received = received


Completed = Callable[[UploadSlot, Path], Awaitable[None]]
"""Called with the slot and its complete file, which the callee moves away."""
Failed = Callable[[UploadSlot, str, str], Awaitable[None]]
"""Called with the slot, a failure code and a reason (the bytes are gone already)."""


class UploadIntake:
    """Upload slots of one provider, and the bytes that arrive for them (see module doc)."""

    def __init__(
        self,
        *,
        directory: Path,
        secret: bytes,
        clock: Clock,
        put_url: str,
        tus_url: str,
        on_complete: Completed,
        on_failed: Failed,
        upload_ttl: timedelta = timedelta(hours=1),
        tus_threshold: int | None = None,
        chunk_size: int = CHUNK_SIZE,
        max_size: int | None = None,
    ) -> None:
        self.directory = directory
        self._secret = secret
        self.clock = clock
        self.put_url = put_url
        """The PUT endpoint; the token is appended."""
        self.tus_url = tus_url
        """The tus endpoint; the token is appended."""
        self._on_complete = on_complete
        self._on_failed = on_failed
        self.upload_ttl = upload_ttl
        self.tus_threshold = tus_threshold
        """Files of at least this many bytes upload over tus; ``None``: never."""
        self.chunk_size = chunk_size
        """The chunk size clients are advised to use (``chunkSize`` of the ticket)."""
        self.max_size = max_size
        """The largest upload accepted (tus ``Tus-Max-Size``); ``None``: no limit."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._refused: dict[str, tuple[str, str] | None] = {}
        """Uploads being completed, with the refusal their owner made meanwhile, if any."""
        directory.mkdir(parents=True, exist_ok=True)

    def ticket(self, request: DirectUploadRequest) -> DirectUploadTicket:
        """A signed upload URL for ``request``: a PUT endpoint, or a tus resource when the file
        is at least ``tus_threshold`` bytes (it exists at once: the client only HEADs and
        PATCHes). Nothing is stored until bytes arrive."""
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
                url=f"{self.tus_url}{self._token(slot)}",
                protocol=UploadProtocol.TUS,
                method="PATCH",
                expires_at=expires,
                headers={"Tus-Resumable": "1.0.0"},
                chunk_size=self.chunk_size,
            )
        return DirectUploadTicket(
            provider_upload_id=request.upload_id,
            url=f"{self.put_url}{self._token(slot)}",
            protocol=UploadProtocol.PUT,
            method="PUT",
            expires_at=expires,
            headers={"Content-Type": request.mime_type},
            chunk_size=self.chunk_size,
        )

    def cancel(self, upload_id: str) -> None:
        """Refuse further bytes for ``upload_id`` and drop what arrived."""
        (self.directory / f"{upload_id}.cancelled").touch()
        with contextlib.suppress(FileNotFoundError):
            self.part(upload_id).unlink()

    def part(self, upload_id: str) -> Path:
        """Where the bytes of ``upload_id`` arrive."""
        return self.directory / f"{upload_id}.part"

    def open_slot(self, token: str, *, finished_ok: bool = False) -> UploadSlot:
        """Check an upload token; ``UploadNotFound`` if forged, expired, cancelled or finished.

        With ``finished_ok`` a finished upload is returned too (a tus HEAD after the last PATCH
        reports the full offset rather than 404).
        """
        slot = self._read_token(token)
        if slot is None or slot.expires_at < self.clock.now().timestamp():
            raise UploadNotFound("this upload URL is invalid or has expired")
        if (self.directory / f"{slot.upload_id}.cancelled").exists():
            raise UploadNotFound("this upload was cancelled")
        if not finished_ok and self.finished(slot):
            raise UploadNotFound("this upload is complete")
        return slot

    def finished(self, slot: UploadSlot) -> bool:
        """True once every byte of ``slot`` arrived (or it failed for good)."""
        return (self.directory / f"{slot.upload_id}.done").exists()

    def received_bytes(self, slot: UploadSlot) -> int:
        """How many bytes of ``slot`` are stored (for resuming chunked uploads)."""
        try:
            return self.part(slot.upload_id).stat().st_size
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
            part = self.part(slot.upload_id)
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
                        field="Content-Range",
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
                await self.fail(slot, "size_mismatch", f"more bytes than the declared {slot.size}")
                raise UploadMismatch(
                    f"the upload is larger than its declared {slot.size} bytes; it failed"
                    " (size_mismatch)"
                )
            if content_range is not None and size != content_range[1] + 1:
                return Received(received=size, complete=False)
            if content_range is not None and size < slot.size:
                return Received(received=size, complete=False)
            if size != slot.size:
                await self.fail(
                    slot, "size_mismatch", f"received {size} bytes, declared {slot.size}"
                )
                raise UploadMismatch(
                    f"received {size} bytes, declared {slot.size}; the upload failed"
                    " (size_mismatch)"
                )
            await self._complete(slot)
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
            stored = self.received_bytes(slot)
            if offset != stored:
                raise RangeMismatch(
                    f"Upload-Offset must be {stored}, the bytes stored, not {offset}",
                    received=stored,
                )
            limit = slot.size - offset
            written = await _write(self.part(slot.upload_id), chunks, offset, limit)
            if written > limit:
                await self.fail(slot, "size_mismatch", f"more bytes than the declared {slot.size}")
                raise UploadMismatch(
                    f"the upload is larger than its declared {slot.size} bytes; it failed"
                    " (size_mismatch)"
                )
            size = offset + written
            if size == slot.size:
                await self._complete(slot)
                return Received(received=size, complete=True)
            return Received(received=size, complete=False)

    async def fail(self, slot: UploadSlot, code: str, reason: str) -> None:
        """End ``slot`` for good: drop its bytes and tell the owner why."""
        if slot.upload_id in self._refused:  # failed while completing: the answer says so
            self._refused[slot.upload_id] = (code, reason)
        (self.directory / f"{slot.upload_id}.done").touch()
        self.part(slot.upload_id).unlink(missing_ok=True)
        self._locks.pop(slot.upload_id, None)
        await self._on_failed(slot, code, reason)

    async def _complete(self, slot: UploadSlot) -> None:
        self._locks.pop(slot.upload_id, None)
        self._refused[slot.upload_id] = None
        try:
            await self._on_complete(slot, self.part(slot.upload_id))
        finally:
            refused = self._refused.pop(slot.upload_id, None)
        (self.directory / f"{slot.upload_id}.done").touch()
        # The owner may refuse the bytes at once (the fake checks the container): the client
        # that sent the last byte hears it in the answer, not only in the later state.
        if refused is not None:
            code, reason = refused
            raise UploadMismatch(f"{reason}; the upload failed ({code})")

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
