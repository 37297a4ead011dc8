"""The local provider: a video platform whose platform is this machine.

Uploads come in through the shared :mod:`adapters.providers.intake` (signed URLs, whole PUT,
``Content-Range`` chunks, tus above a threshold). A complete file is moved into storage and a
job is queued in the database; worker processes (:mod:`.worker`) probe it, transcode it to an
adaptive HLS ladder and report back through the service's signed webhook route, as a cloud
provider would: PROCESSING with the share encoded, then READY or FAILED. The service process
never decodes a video except to render a thumbnail size on first request (in a thread).

Playback is HLS served by the service itself (:mod:`.http`). PRIVATE videos are served under a
signed, expiring token in the path (``…/t/<token>/hls/master.m3u8``), so the relative URIs of
every rendition and segment inherit it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.providers.intake import CHUNK_SIZE, PlaybackSigner, UploadIntake, UploadSlot
from adapters.providers.local._notify import Notifier
from adapters.providers.local.jobs import JobState, SqlJobStore
from adapters.providers.local.storage import MediaStorage
from media_core.errors import UploadNotFound
from media_core.events import ProviderEvent, ProviderEventKind
from media_core.model import FailureCode, MediaUpload, Visibility
from media_core.ports import Clock, DirectUploadRequest, DirectUploadTicket, Playback
from media_core.strict import plausible_id

log = logging.getLogger("adapters.providers.local")

PREFIX = "/api/v1/media/local"
VIDEOS_PATH = f"{PREFIX}/videos/"
HLS_MIME_TYPE = "application/vnd.apple.mpegurl"


def source_key(upload_id: str) -> str:
    """Where the uploaded file of ``upload_id`` is stored."""
    return f"sources/{upload_id}"


def video_key(playback_id: str, *rest: str) -> str:
    """Where the outputs of ``playback_id`` are stored (``hls``, ``info.json``, thumbnails)."""
    return "/".join(("videos", playback_id, *rest))


DEFAULT_THUMBNAIL_WIDTH = 640


def default_thumbnail_width(video_width: int) -> int:
    """A thumbnail's width when its request names none: 640, or the video's own if narrower."""
    return max(min(DEFAULT_THUMBNAIL_WIDTH, video_width), 2)


def thumbnail_key(playback_id: str, at: float, width: int, extension: str) -> str:
    """Where the thumbnail of ``playback_id`` at ``at`` seconds, ``width`` wide, is kept."""
    return video_key(playback_id, "thumbnails", f"{round(at * 1000)}-{width}.{extension}")


def within(at: float, duration: float) -> float:
    """A thumbnail's time ``at`` kept inside a video of ``duration`` seconds."""
    return min(max(at, 0.0), max(duration - 0.001, 0.0))


def thumbnail_url(base_url: str, playback_id: str, token: str | None = None) -> str:
    """The default thumbnail of ``playback_id``, under ``token`` when it is PRIVATE."""
    signed = f"/t/{token}" if token else ""
    return f"{base_url}{VIDEOS_PATH}{playback_id}{signed}/thumbnail.jpg"


class LocalVideoProvider:
    """The ``local`` :class:`~media_core.ports.VideoProvider` (see the module doc)."""

    name = "local"

    def __init__(
        self,
        *,
        base_url: str,
        data_dir: Path,
        storage: MediaStorage,
        jobs: SqlJobStore,
        notifier: Notifier,
        secret: str,
        clock: Clock,
        upload_ttl: timedelta = timedelta(hours=1),
        playback_ttl: timedelta = timedelta(hours=6),
        tus_threshold: int | None = None,
        chunk_size: int = CHUNK_SIZE,
        max_size: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.storage = storage
        self.jobs = jobs
        self.notifier = notifier
        self._secret = secret.encode()
        self.clock = clock
        self.playback_ttl = playback_ttl
        self._signer = PlaybackSigner(self._secret, "lpb", clock)
        self.intake = UploadIntake(
            directory=data_dir / "local-incoming",
            secret=self._secret,
            clock=clock,
            put_url=f"{self.base_url}{PREFIX}/uploads/",
            tus_url=f"{self.base_url}{PREFIX}/tus/",
            on_complete=self._received,
            on_failed=self._rejected,
            upload_ttl=upload_ttl,
            tus_threshold=tus_threshold,
            chunk_size=chunk_size,
            max_size=max_size,
        )
        """Where the bytes arrive (the upload endpoints' logic)."""
        self._visibility: dict[str, Visibility] = {}
        self._tasks: set[asyncio.Task[bool]] = set()
        self.renders = asyncio.Semaphore(2)
        """Thumbnails rendered at once in the service process (each decodes frames)."""

    # -- the VideoProvider port -------------------------------------------------------------

    async def create_direct_upload(self, request: DirectUploadRequest) -> DirectUploadTicket:
        """A signed upload URL (PUT, or tus for large files); the playback id is known at once."""
        ticket = self.intake.ticket(request)
        playback_id = self.playback_id_for(request.upload_id)
        info = {"uploadId": request.upload_id, "visibility": request.metadata.visibility.value}
        await asyncio.to_thread(
            self.storage.write, video_key(playback_id, "info.json"), json.dumps(info).encode()
        )
        return DirectUploadTicket(
            provider_upload_id=ticket.provider_upload_id,
            url=ticket.url,
            protocol=ticket.protocol,
            method=ticket.method,
            expires_at=ticket.expires_at,
            headers=ticket.headers,
            playback_id=playback_id,
            asset_id=f"local-{request.upload_id}",
            chunk_size=ticket.chunk_size,
        )

    async def fetch_events(self, upload: MediaUpload, now: datetime) -> Sequence[ProviderEvent]:
        """The job's state as an event, for the reconciler (a webhook that never arrived)."""
        job = await self.jobs.get(upload.id)
        if job is None:
            return ()
        common: dict[str, Any] = {
            "provider": self.name,
            "occurred_at": now,
            "upload_id": upload.id,
            "provider_upload_id": upload.id,
            "playback_id": job.playback_id,
        }
        if job.state is JobState.DONE and job.duration is not None:
            return (
                ProviderEvent(
                    delivery_id=f"local:{upload.id}:ready",
                    kind=ProviderEventKind.READY,
                    duration=job.duration,
                    thumbnail_url=thumbnail_url(self.base_url, job.playback_id),
                    **common,
                ),
            )
        if job.state is JobState.FAILED:
            return (
                ProviderEvent(
                    delivery_id=f"local:{upload.id}:failed",
                    kind=ProviderEventKind.FAILED,
                    failure_code=_failure_code(job.failure_code),
                    failure_reason=job.failure_reason,
                    **common,
                ),
            )
        if job.state in (JobState.QUEUED, JobState.RUNNING):
            return (
                ProviderEvent(
                    delivery_id=f"local:{upload.id}:a{job.attempts}:p{job.progress}",
                    kind=ProviderEventKind.PROCESSING,
                    progress=job.progress,
                    **common,
                ),
            )
        return ()

    async def cancel_upload(self, upload: MediaUpload) -> None:
        """Refuse further bytes, stop a running job and remove every file of ``upload``."""
        self.intake.cancel(upload.id)
        await self.jobs.cancel(upload.id, self.clock.now())
        playback_id = upload.playback_id or self.playback_id_for(upload.id)
        await asyncio.to_thread(self._remove, upload.id, playback_id)

    async def delete_video(self, upload: MediaUpload) -> None:
        """As :meth:`cancel_upload`, and the job is forgotten with the upload."""
        await self.cancel_upload(upload)
        await self.jobs.forget(upload.id)

    async def playback(self, upload: MediaUpload, now: datetime) -> Playback:
        """The HLS master playlist and the thumbnail, under a signed token when PRIVATE."""
        assert upload.playback_id is not None
        base = f"{self.base_url}{VIDEOS_PATH}{upload.playback_id}"
        if upload.metadata.visibility is not Visibility.PRIVATE:
            return Playback(
                url=f"{base}/hls/master.m3u8",
                mime_type=HLS_MIME_TYPE,
                thumbnail_url=thumbnail_url(self.base_url, upload.playback_id),
            )
        expires = now + self.playback_ttl
        token = self.playback_token(upload.playback_id, int(expires.timestamp()))
        return Playback(
            url=f"{base}/t/{token}/hls/master.m3u8",
            mime_type=HLS_MIME_TYPE,
            thumbnail_url=thumbnail_url(self.base_url, upload.playback_id, token),
            token=token,
            thumbnail_token=token,
            expires_at=expires,
        )

    # -- what the intake hands over --------------------------------------------------------

    async def _received(self, slot: UploadSlot, part: Path) -> None:
        """Store the complete file, queue its job, and say PROCESSING."""
        playback_id = self.playback_id_for(slot.upload_id)
        await asyncio.to_thread(self.storage.put, source_key(slot.upload_id), part)
        await self.jobs.enqueue(
            upload_id=slot.upload_id,
            playback_id=playback_id,
            source=source_key(slot.upload_id),
            mime_type=slot.mime_type,
            now=self.clock.now(),
        )
        # In the background: the client's PUT is answered without waiting for our own webhook.
        self._notify(
            {
                "eventId": f"local:{slot.upload_id}:received",
                "uploadId": slot.upload_id,
                "providerUploadId": slot.upload_id,
                "playbackId": playback_id,
                "status": "processing",
                "progress": 0,
            }
        )

    async def _rejected(self, slot: UploadSlot, code: str, reason: str) -> None:
        self._notify(
            {
                "eventId": f"local:{slot.upload_id}:failed",
                "uploadId": slot.upload_id,
                "status": "failed",
                "failureCode": code,
                "failureReason": reason,
            }
        )

    def _notify(self, body: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self.notifier.send(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Wait briefly for webhooks in flight, then cancel what is left."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _remove(self, upload_id: str, playback_id: str) -> None:
        self.storage.delete(source_key(upload_id))
        self.storage.delete(video_key(playback_id))
        self._visibility.pop(playback_id, None)

    # -- serving ----------------------------------------------------------------------------

    def playback_id_for(self, upload_id: str) -> str:
        """The playback id the local provider assigns to ``upload_id``."""
        return self._signer.playback_id(upload_id)

    def playback_token(self, playback_id: str, expires_at: int) -> str:
        """A token that lets its bearer fetch a PRIVATE video's files until ``expires_at``."""
        return self._signer.token(playback_id, expires_at)

    def authorize(self, playback_id: str, token: str | None) -> None:
        """Raise ``UploadNotFound`` unless ``playback_id``'s files may be served with ``token``.

        A valid token opens any video (it names one playback id); without one, only videos that
        are not PRIVATE are served.
        """
        if not plausible_id(playback_id):
            raise UploadNotFound("no such video")
        if token is not None:
            if not self._signer.token_ok(playback_id, token):
                raise UploadNotFound("this playback URL is invalid or has expired")
            return
        if self._visibility_of(playback_id) is Visibility.PRIVATE:
            raise UploadNotFound("no such video")

    def info(self, playback_id: str) -> dict[str, Any]:
        """What the worker recorded about ``playback_id``'s output (``{}`` before it is READY)."""
        raw = self.storage.read(video_key(playback_id, "info.json"))
        try:
            value = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def _visibility_of(self, playback_id: str) -> Visibility:
        known = self._visibility.get(playback_id)
        if known is not None:
            return known
        raw = self.info(playback_id).get("visibility")
        if raw is None:
            raise UploadNotFound("no such video")
        try:
            visibility = Visibility(raw)
        except ValueError as exc:
            raise UploadNotFound("no such video") from exc
        self._visibility[playback_id] = visibility
        return visibility


def _failure_code(raw: str | None) -> FailureCode:
    try:
        return FailureCode(raw) if raw else FailureCode.PROVIDER_ERROR
    except ValueError:
        return FailureCode.PROVIDER_ERROR
