"""The fake provider: a real, local video platform for the embedded default and for tests.

It behaves like Mux where it matters: the browser (or curl) sends the bytes to a URL the provider
issued (the shared :mod:`adapters.providers.intake`: one PUT, ``Content-Range`` chunks, or tus 1.0
above ``tus_threshold`` as Cloudflare Stream does), then the provider calls back with signed
webhooks on the seed's normalized route: PROCESSING, then READY with the duration read from the
file's header and a placeholder thumbnail; or FAILED when the bytes do not match the declared size
or type. It decodes nothing: the ``local`` provider is the one that really processes video.

Bytes arrive in ``<data_dir>/incoming``; finished videos live in ``<data_dir>/videos`` and are
served back for playback (signed for PRIVATE).

Deterministic and drivable: ids of deliveries derive from the upload id, time comes from the
injected clock, and with ``auto_deliver=False`` webhooks wait in :attr:`outbox` until a test calls
:meth:`FakeVideoProvider.flush`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.providers.fake.media import FAMILIES, probe_duration, sniff_family
from adapters.providers.intake import CHUNK_SIZE, PlaybackSigner, UploadIntake, UploadSlot
from adapters.webhooks.normalized import sign_normalized
from media_core.errors import UploadNotFound
from media_core.events import ProviderEvent
from media_core.model import MediaUpload, Visibility
from media_core.ports import Clock, DirectUploadRequest, DirectUploadTicket, Playback
from media_core.strict import plausible_id

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
UPLOAD_PATH = "/api/v1/media/fake/uploads/"
TUS_PATH = "/api/v1/media/fake/tus/"
ASSET_PATH = "/api/v1/media/fake/videos/"


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
        max_size: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.videos = data_dir / "videos"
        self._secret = secret.encode()
        self._webhook_secret = webhook_secret
        self.clock = clock
        self.sender = sender
        self.processing_delay = processing_delay
        self.auto_deliver = auto_deliver
        self._signer = PlaybackSigner(self._secret, "fpb", clock)
        self.intake = UploadIntake(
            directory=data_dir / "incoming",
            secret=self._secret,
            clock=clock,
            put_url=f"{self.base_url}{UPLOAD_PATH}",
            tus_url=f"{self.base_url}{TUS_PATH}",
            on_complete=self._finish,
            on_failed=self._finish_failed,
            upload_ttl=upload_ttl,
            tus_threshold=tus_threshold,
            chunk_size=chunk_size,
            max_size=max_size,
        )
        """Where the bytes arrive (the upload endpoints' logic)."""
        self.outbox: list[tuple[bytes, dict[str, str]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.videos.mkdir(parents=True, exist_ok=True)

    # -- the VideoProvider port -------------------------------------------------------------

    async def create_direct_upload(self, request: DirectUploadRequest) -> DirectUploadTicket:
        """Issue a signed upload URL for ``request`` (PUT, or tus for large files)."""
        return self.intake.ticket(request)

    async def fetch_events(self, upload: MediaUpload, now: datetime) -> Sequence[ProviderEvent]:
        """The fake keeps no state beyond its files; the reconciler learns nothing new here."""
        return ()

    async def cancel_upload(self, upload: MediaUpload) -> None:
        """Refuse further bytes for ``upload`` and drop what arrived."""
        self.intake.cancel(upload.id)

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

    # -- what the intake hands over --------------------------------------------------------

    async def _finish_failed(self, slot: UploadSlot, code: str, reason: str) -> None:
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

    async def _finish(self, slot: UploadSlot, part: Path) -> None:
        with part.open("rb") as handle:
            head = handle.read(64)
        family = sniff_family(head)
        expected = FAMILIES.get(slot.mime_type)
        if family is None or family != expected:
            found = family or "not a recognised video container"
            await self.intake.fail(
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
        return self._signer.playback_id(upload_id)

    def playback_token(self, playback_id: str, expires_at: int) -> str:
        """A token that lets its bearer fetch a PRIVATE video until ``expires_at``."""
        return self._signer.token(playback_id, expires_at)

    def video_info(self, playback_id: str, token: str | None) -> tuple[Path, dict[str, Any]]:
        """The stored file and its description; ``UploadNotFound`` unless it may be served."""
        if not plausible_id(playback_id):
            raise UploadNotFound("no such video")
        try:
            info = json.loads((self.videos / f"{playback_id}.json").read_text())
        except (FileNotFoundError, ValueError) as exc:
            raise UploadNotFound("no such video") from exc
        if info.get("visibility") == Visibility.PRIVATE.value and not self._signer.token_ok(
            playback_id, token
        ):
            raise UploadNotFound("no such video")
        return self.videos / str(info["file"]), info
