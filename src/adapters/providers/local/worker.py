"""The local provider's worker: claims jobs, processes them, and reports through webhooks.

A worker runs one job at a time in its own process (the composition root starts as many
processes as ``LOCAL_WORKERS``); the decode and encode run in a thread of that process, so the
worker's event loop keeps renewing the job's lease and sending progress while they work. A job
is processed (:mod:`.pipeline`: probe, then one decode for the ladder, the storyboard and the
poster frame) in a scratch directory, published to storage at once, and only then marked done:
a worker killed at any point leaves either nothing published or a job another worker redoes
from the start once the lease ends (the scratch directory of the earlier attempt is emptied
first).

Progress is the share of the source encoded, sent once it grew by ``progress_step`` per cent or
``progress_interval`` seconds passed, whichever comes first. Cancel and delete mark the job
cancelled; the next lease renewal (within seconds) sees it and stops the encoder, and the partial
output goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from math import gcd
from pathlib import Path
from typing import Any

from attrs import frozen

from adapters.providers.local import hls, ladder, pipeline, probe
from adapters.providers.local._notify import Notifier
from adapters.providers.local.jobs import Job, SqlJobStore
from adapters.providers.local.provider import (
    DEFAULT_THUMBNAIL_WIDTH,
    default_thumbnail_width,
    thumbnail_key,
    thumbnail_url,
    video_key,
    within,
)
from adapters.providers.local.storage import MediaStorage
from media_core.model import FailureCode
from media_core.ports import Clock

log = logging.getLogger("adapters.providers.local.worker")

RENEW_AT_MOST_EVERY = 5.0
"""Seconds between lease renewals at most: how soon a running job sees it was cancelled."""


@frozen
class WorkerSettings:
    """How a worker processes: the ladder, segments, threads, and its lease on a job."""

    heights: tuple[int, ...] = ladder.DEFAULT_HEIGHTS
    segment_seconds: float = 4.0
    threads: int = 0
    """Threads of the decoder and of each encoder (0: FFmpeg's choice from the CPU count)."""
    preset: str = hls.DEFAULT_PRESET
    """The x264 preset of every rendition (``ultrafast`` .. ``placebo``)."""
    lease: timedelta = timedelta(seconds=60)
    """How long a claimed job stays the worker's without a renewal (renewed every third)."""
    max_attempts: int = 3
    """Claims of one job before it fails for good (a source that kills its worker)."""
    poll_interval: float = 1.0
    """Seconds between looks for work when there is none."""
    progress_step: int = 5
    progress_interval: float = 1.0


@frozen
class _Outcome:
    output: hls.HlsOutput
    info: dict[str, Any]
    scratch: Path
    poster: tuple[str, bytes] | None
    """The default thumbnail's key and JPEG, made from the frame the transcode decoded, so that
    no page's first look at a tile makes the service process decode the video (None if no frame
    decoded: the service then tries on the first request)."""


class _Progress:
    """The share encoded, written by the encoder's thread and read by the event loop."""

    def __init__(self) -> None:
        self.fraction = 0.0

    def set(self, fraction: float) -> None:
        self.fraction = min(max(fraction, 0.0), 1.0)

    @property
    def percent(self) -> int:
        # 100 % is READY's to say: processing reports at most 99.
        return min(int(self.fraction * 100), 99)


class LocalWorker:
    """Processes the local provider's jobs one at a time (see the module doc)."""

    def __init__(
        self,
        *,
        name: str,
        jobs: SqlJobStore,
        storage: MediaStorage,
        notifier: Notifier,
        clock: Clock,
        base_url: str,
        settings: WorkerSettings,
    ) -> None:
        self.name = name
        self.jobs = jobs
        self.storage = storage
        self.notifier = notifier
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self._stopping = threading.Event()

    async def run(self, stop: asyncio.Event, alive: Callable[[], bool] = lambda: True) -> None:
        """Process jobs until ``stop`` is set (or ``alive()`` turns false); a job under way is
        stopped and given back to the queue."""
        watcher = asyncio.create_task(self._watch(stop, alive))
        try:
            while not self._stopping.is_set():
                try:
                    worked = await self.run_once()
                except Exception:
                    # The database may be down for a while: keep trying, as the reconciler does.
                    log.exception("local worker %s: a pass failed", self.name)
                    worked = False
                if not worked:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.poll_interval)
        finally:
            watcher.cancel()

    async def _watch(self, stop: asyncio.Event, alive: Callable[[], bool]) -> None:
        while not stop.is_set() and alive():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        self._stopping.set()
        stop.set()

    async def run_once(self) -> bool:
        """Claim and process one job; False when there was none."""
        job = await self.jobs.claim(self.name, self.clock.now(), self.settings.lease)
        if job is None:
            return False
        log.info("local worker %s: job %s (attempt %d)", self.name, job.upload_id, job.attempts)
        if job.attempts > self.settings.max_attempts:
            await self._fail(
                job,
                FailureCode.PROVIDER_ERROR,
                f"processing stopped {job.attempts - 1} times before it could finish",
            )
            return True
        await self._process(job)
        return True

    async def _process(self, job: Job) -> None:
        lost = threading.Event()
        progress = _Progress()
        tasks = [
            asyncio.create_task(self._keep_lease(job, lost, progress)),
            asyncio.create_task(self._report(job, progress)),
        ]
        try:
            outcome = await asyncio.to_thread(self._transcode, job, lost, progress)
        except probe.InvalidMedia as exc:
            await asyncio.to_thread(self._discard, job)
            await self._fail(job, FailureCode.INVALID_FILE, exc.reason)
            return
        except hls.Cancelled:
            await asyncio.to_thread(self._discard, job)
            if self._stopping.is_set():
                await self.jobs.release(job.upload_id, self.name, self.clock.now())
            return
        except Exception:
            log.exception("local worker %s: job %s failed", self.name, job.upload_id)
            await asyncio.to_thread(self._discard, job)
            if job.attempts >= self.settings.max_attempts:
                await self._fail(
                    job, FailureCode.PROVIDER_ERROR, "the video could not be processed"
                )
            else:
                await self.jobs.release(job.upload_id, self.name, self.clock.now())
            return
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._publish(job, outcome)

    def _transcode(self, job: Job, lost: threading.Event, progress: _Progress) -> _Outcome:
        """Probe, transcode, and render the poster frame (blocking: runs in a thread)."""
        scratch = self.storage.scratch(job.upload_id)

        def should_stop() -> bool:
            return lost.is_set() or self._stopping.is_set()

        # The storyboard (seek previews) lands beside the playlists: served, and signed, alike.
        done = pipeline.process(
            self.storage.path(job.source),
            scratch / "hls",
            declared_mime_type=job.mime_type,
            heights=self.settings.heights,
            segment_seconds=self.settings.segment_seconds,
            threads=self.settings.threads,
            preset=self.settings.preset,
            progress=progress.set,
            should_stop=should_stop,
            poster_width=DEFAULT_THUMBNAIL_WIDTH,
        )
        output = done.output
        at = within(done.thumbnail_time, output.duration)
        key = thumbnail_key(job.playback_id, at, default_thumbnail_width(done.probe.width), "jpg")
        info = {
            "duration": output.duration,
            "width": done.probe.width,
            "height": done.probe.height,
            "thumbnailTime": done.thumbnail_time,
            "master": output.master_playlist.relative_to(scratch / "hls").as_posix(),
            "renditions": [rendition.rendition.name for rendition in output.renditions],
        }
        return _Outcome(
            output=output,
            info=info,
            scratch=scratch,
            poster=None if done.poster is None else (key, done.poster),
        )

    async def _publish(self, job: Job, outcome: _Outcome) -> None:
        info_key = video_key(job.playback_id, "info.json")

        def publish() -> int:
            known = self.storage.read(info_key)
            info = {**(json.loads(known) if known else {}), **outcome.info}
            self.storage.publish(video_key(job.playback_id, "hls"), outcome.scratch / "hls")
            self.storage.write(info_key, json.dumps(info, separators=(",", ":")).encode())
            self.storage.delete(video_key(job.playback_id, "thumbnails"))
            if outcome.poster is not None:
                self.storage.write(*outcome.poster)
            return self.storage.size(job.source) + self.storage.size(video_key(job.playback_id))

        stored = await asyncio.to_thread(publish)
        finished = await self.jobs.finish(
            job.upload_id,
            self.name,
            self.clock.now(),
            duration=outcome.output.duration,
            stored_bytes=stored,
        )
        await asyncio.to_thread(self._discard, job)
        if not finished:
            # Cancelled or deleted while we published: what we wrote goes too.
            log.info("local worker %s: job %s was cancelled", self.name, job.upload_id)
            await asyncio.to_thread(self.storage.delete, video_key(job.playback_id))
            return
        width, height = outcome.info["width"], outcome.info["height"]
        await self.notifier.send(
            {
                "eventId": f"local:{job.upload_id}:ready",
                "uploadId": job.upload_id,
                "providerUploadId": job.upload_id,
                "playbackId": job.playback_id,
                "status": "ready",
                "duration": round(outcome.output.duration, 3),
                "thumbnailUrl": thumbnail_url(self.base_url, job.playback_id),
                "aspectRatio": _aspect(width, height),
            }
        )

    async def _fail(self, job: Job, code: FailureCode, reason: str) -> None:
        """Fail the job for good; a failed upload keeps nothing in storage."""
        if await self.jobs.fail(job.upload_id, self.name, self.clock.now(), code.value, reason):
            await asyncio.to_thread(self._remove, job)
            await self.notifier.send(
                {
                    "eventId": f"local:{job.upload_id}:failed",
                    "uploadId": job.upload_id,
                    "providerUploadId": job.upload_id,
                    "status": "failed",
                    "failureCode": code.value,
                    "failureReason": reason,
                }
            )

    def _remove(self, job: Job) -> None:
        self.storage.delete(job.source)
        self.storage.delete(video_key(job.playback_id))

    def _discard(self, job: Job) -> None:
        with contextlib.suppress(OSError):
            self.storage.scratch(job.upload_id).rmdir()

    async def _keep_lease(self, job: Job, lost: threading.Event, progress: _Progress) -> None:
        """Renew the lease often (a third of it, at most every few seconds, so a cancel is seen
        soon); a refused renewal means the job is no longer ours."""
        every = min(self.settings.lease.total_seconds() / 3, RENEW_AT_MOST_EVERY)
        while True:
            await asyncio.sleep(every)
            try:
                kept = await self.jobs.renew(
                    job.upload_id,
                    self.name,
                    self.clock.now(),
                    self.settings.lease,
                    progress.percent,
                )
            except Exception:
                log.warning("local worker %s: could not renew the lease", self.name, exc_info=True)
                continue
            if not kept:
                log.info("local worker %s: job %s is no longer ours", self.name, job.upload_id)
                lost.set()
                return

    async def _report(self, job: Job, progress: _Progress) -> None:
        """PROCESSING webhooks with the share encoded, throttled (see the module doc)."""
        sent, sent_at = 0, time.monotonic()
        while True:
            await asyncio.sleep(0.2)
            percent = progress.percent
            now = time.monotonic()
            if percent <= sent:
                continue
            if percent - sent < self.settings.progress_step and (
                now - sent_at < self.settings.progress_interval
            ):
                continue
            sent, sent_at = percent, now
            await self.notifier.send(
                {
                    "eventId": f"local:{job.upload_id}:a{job.attempts}:p{percent}",
                    "uploadId": job.upload_id,
                    "providerUploadId": job.upload_id,
                    "playbackId": job.playback_id,
                    "status": "processing",
                    "progress": percent,
                }
            )


def _aspect(width: int, height: int) -> str:
    divisor = gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"
