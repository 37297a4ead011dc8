"""The local provider end to end over HTTP: real uploads, real worker processes, real HLS."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.providers.local import JobState, LocalVideoProvider, LocalWorker, Notifier, hls
from entrypoints.container import resolve
from media_core.events import DomainEvent, UploadProcessing, UploadProgressed
from media_core.reconcile import Reconciler
from tests.conftest import need
from tests.support.local import (
    decoded_frames,
    fetch_hls,
    image_size,
    local_settings,
    make_clip,
    worker_processes,
)
from tests.support.processes import fresh_postgres_database
from tests.support.repositories import POSTGRES_URL_VARIABLE
from tests.support.service import RunningService, running_service
from tests.support.videos import damage_part_way

LEASE = 3.0


async def _upload(
    service: RunningService, video: bytes, *, visibility: str = "PUBLIC", user: str = "alice"
) -> dict[str, Any]:
    created = await service.create(
        user,
        fileName="clip.mp4",
        fileSize=len(video),
        metadata={"title": "Clip", "description": "", "visibility": visibility},
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    put = await service.client.put(
        body["uploadUrl"], content=video, headers={"Content-Type": "video/mp4"}
    )
    assert put.status_code == 200, put.text
    return body


async def test_upload_processes_to_hls_with_progress_and_a_thumbnail(tmp_path: Path) -> None:
    """PUT a clip: PROCESSING with rising progress, READY; every segment decodes; thumbnails."""
    settings = local_settings(tmp_path / "data")
    video = make_clip(seconds=2.0)
    seen: list[DomainEvent] = []

    async def record(event: DomainEvent) -> None:
        seen.append(event)

    async with running_service(settings) as service:
        service.container.publisher().subscribe(record)
        with worker_processes(settings):
            created = await _upload(service, video)
            ready = await service.wait_for("alice", created["id"], {"ready", "failed"}, 60)
        assert ready["status"] == "ready", ready
        assert ready["duration"] == pytest.approx(2.0, abs=0.1)
        assert ready["playbackId"] == created["playbackId"]
        progress = [
            event.upload.progress
            for event in seen
            if isinstance(event, UploadProcessing | UploadProgressed)
        ]
        assert progress[0] == 0
        assert progress == sorted(progress)

        # Quotas and the storage metric count the bytes really stored: source and renditions.
        root = settings.local_storage_dir
        on_disk = (
            sum(
                path.stat().st_size
                for part in (f"sources/{created['id']}", f"videos/{created['playbackId']}")
                for path in root.joinpath(part).rglob("*")
                if path.is_file()
            )
            + root.joinpath(f"sources/{created['id']}").stat().st_size
        )
        listed = await service.client.get("/api/v1/media", headers=service.auth("alice"))
        assert listed.json()["usage"]["bytes"] == on_disk > len(video)
        repository = await resolve(service.container.repository)
        (tally,) = [t for t in await repository.storage_tallies() if t.status.value == "ready"]
        assert (tally.provider, tally.bytes) == ("local", on_disk)

        playback = (
            await service.client.get(
                f"/api/v1/media/{created['id']}/playback", headers=service.auth("alice")
            )
        ).json()
        assert playback["mimeType"] == "application/vnd.apple.mpegurl"
        files = await fetch_hls(service.client, playback["url"])
        segments = [body for url, body in files.items() if not url.endswith(".m3u8")]
        assert segments
        assert sum(decoded_frames(segment) for segment in segments) == 50

        ranged = await service.client.get(
            next(url for url in files if url.endswith(".ts")), headers={"Range": "bytes=0-187"}
        )
        assert ranged.status_code == 206
        assert len(ranged.content) == 188

        storyboard = await service.client.get(
            playback["url"].replace("master.m3u8", "storyboard.vtt")
        )
        assert storyboard.headers["content-type"].startswith("text/vtt")
        assert storyboard.text.startswith("WEBVTT")
        assert "storyboard.jpg#xywh=" in storyboard.text
        sprite = await service.client.get(playback["url"].replace("master.m3u8", "storyboard.jpg"))
        assert sprite.headers["content-type"] == "image/jpeg"

        # The worker made the default thumbnail: the service serves it without decoding.
        cache = root / "videos" / created["playbackId"] / "thumbnails"
        (poster,) = cache.iterdir()
        thumbnail = await service.client.get(playback["thumbnailUrl"])
        assert thumbnail.headers["content-type"] == "image/jpeg"
        assert "max-age" in thumbnail.headers["cache-control"]
        assert image_size(thumbnail.content, "jpeg") == (320, 240)
        assert thumbnail.content == poster.read_bytes()
        assert list(cache.iterdir()) == [poster]
        sized = await service.client.get(
            playback["thumbnailUrl"].replace(".jpg", ".webp"), params={"time": 1.5, "width": 160}
        )
        assert sized.headers["content-type"] == "image/webp"
        assert image_size(sized.content, "webp") == (160, 120)
        bad = await service.client.get(playback["thumbnailUrl"], params={"width": "wide"})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")


@contextlib.asynccontextmanager
async def slowed_worker(
    service: RunningService, monkeypatch: pytest.MonkeyPatch, seconds_per_frame: float
) -> AsyncIterator[LocalWorker]:
    """A worker in this process whose real transcode waits ``seconds_per_frame`` after each
    frame, so that a test can act while a job runs."""
    real = hls.transcode_hls

    def slowed(*args: Any, progress: Callable[[float], None], **kwargs: Any) -> hls.HlsOutput:
        def slow(fraction: float) -> None:
            time.sleep(seconds_per_frame)
            progress(fraction)

        return real(*args, progress=slow, **kwargs)

    monkeypatch.setattr(hls, "transcode_hls", slowed)
    worker: LocalWorker = await resolve(service.container.local_worker)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await task


async def _provider(service: RunningService) -> LocalVideoProvider:
    provider: LocalVideoProvider = await resolve(service.container.embedded_provider)
    return provider


async def _wait_processing(service: RunningService, upload_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            body: dict[str, Any] = (await service.status("alice", upload_id)).json()
            if body["status"] == "processing" and 0 < body["progress"] < 100:
                return body
            assert body["status"] in ("uploading", "processing"), body
            await asyncio.sleep(0.05)


async def test_progress_is_the_share_encoded_and_throttled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the encoder works the status says "processing" with the share encoded; webhooks
    come every 5 % or second, not once per frame."""
    settings = local_settings(tmp_path / "data")
    seen: list[int] = []

    async def record(event: DomainEvent) -> None:
        if isinstance(event, UploadProcessing | UploadProgressed):
            seen.append(event.upload.progress)

    async with running_service(settings) as service:
        service.container.publisher().subscribe(record)
        async with slowed_worker(service, monkeypatch, seconds_per_frame=0.04):
            created = await _upload(service, make_clip(seconds=2.0, audio=False))
            midway = await _wait_processing(service, created["id"])
            ready = await service.wait_for("alice", created["id"], {"ready", "failed"}, 30)
    assert ready["status"] == "ready", ready
    assert 0 < midway["progress"] < 100
    assert seen == sorted(seen)
    assert len(seen) <= 1 + 100 // 5 + 3, seen
    steps = [later - earlier for earlier, later in itertools.pairwise(seen)]
    assert all(step > 0 for step in steps), seen


async def test_private_playback_needs_a_valid_token_in_the_path(tmp_path: Path) -> None:
    """A PRIVATE video's playlists, segments and thumbnails answer only under a valid token."""
    settings = local_settings(tmp_path / "data")
    async with running_service(settings) as service:
        with worker_processes(settings):
            created = await _upload(service, make_clip(seconds=1.0), visibility="PRIVATE")
            ready = await service.wait_for("alice", created["id"], {"ready", "failed"}, 60)
        assert ready["status"] == "ready", ready
        playback = (
            await service.client.get(
                f"/api/v1/media/{created['id']}/playback", headers=service.auth("alice")
            )
        ).json()
        token = playback["token"]
        assert f"/t/{token}/hls/" in playback["url"]
        files = await fetch_hls(service.client, playback["url"])
        assert len(files) >= 3
        thumbnail = await service.client.get(playback["thumbnailUrl"])
        assert thumbnail.status_code == 200
        assert thumbnail.headers["cache-control"].startswith("private")

        provider = await _provider(service)
        expired = provider.playback_token(created["playbackId"], int(time.time()) - 1)
        forged = token[:-1] + ("0" if token[-1] != "0" else "1")
        for url in [*files, playback["thumbnailUrl"]]:
            for refused in (
                url.replace(f"/t/{token}", ""),
                url.replace(token, expired),
                url.replace(token, forged),
            ):
                response = await service.client.get(refused)
                assert response.status_code == 404, refused


async def test_a_killed_worker_leaves_a_job_another_takes_after_the_lease(
    tmp_path: Path,
) -> None:
    """SIGKILL the worker mid-job: after the lease another worker redoes it, from clean."""
    settings = local_settings(tmp_path / "data", ladder=(120, 180, 240))
    async with running_service(settings) as service:
        provider = await _provider(service)
        created = await _upload(service, make_clip(seconds=6.0, audio=False))
        scratch = settings.local_storage_dir / ".work" / created["id"]
        with worker_processes(settings) as first:
            async with asyncio.timeout(30):
                while True:
                    job = await provider.jobs.get(created["id"])
                    if job is not None and job.state is JobState.RUNNING and scratch.exists():
                        break
                    await asyncio.sleep(0.01)
            (pid,) = first.pids()
            os.kill(pid, signal.SIGKILL)
            first.stop()
        killed_at = time.monotonic()
        status = (await service.status("alice", created["id"])).json()
        assert status["status"] == "processing", status
        with worker_processes(settings):
            ready = await service.wait_for("alice", created["id"], {"ready", "failed"}, 60)
        assert ready["status"] == "ready", ready
        assert time.monotonic() - killed_at >= LEASE * 0.9
        job = await provider.jobs.get(created["id"])
        assert job is not None
        assert (job.state, job.attempts) == (JobState.DONE, 2)
        assert not scratch.exists()
        files = await fetch_hls(
            service.client,
            (
                await service.client.get(
                    f"/api/v1/media/{created['id']}/playback", headers=service.auth("alice")
                )
            ).json()["url"],
        )
        segments = [body for url, body in files.items() if not url.endswith(".m3u8")]
        assert sum(decoded_frames(segment) for segment in segments) == 3 * 150


@pytest.mark.parametrize("action", ["cancel", "delete"])
async def test_cancel_and_delete_stop_a_running_job_and_remove_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """Cancel or delete while the encoder works: the job stops, and nothing of it is left."""
    settings = local_settings(tmp_path / "data")
    async with running_service(settings) as service:
        provider = await _provider(service)
        async with slowed_worker(service, monkeypatch, seconds_per_frame=0.2):
            created = await _upload(service, make_clip(seconds=2.0, audio=False))
            await _wait_processing(service, created["id"])
            if action == "cancel":
                response = await service.client.post(
                    f"/api/v1/media/{created['id']}/cancel", headers=service.auth("alice")
                )
                assert response.status_code == 200, response.text
                assert response.json()["failureCode"] == "cancelled"
            else:
                response = await service.client.delete(
                    f"/api/v1/media/{created['id']}", headers=service.auth("alice")
                )
                assert response.status_code == 204, response.text
            started = time.monotonic()
            root = settings.local_storage_dir
            # The scratch directory goes only when the worker stopped its encoder: it notices
            # at its next lease renewal, long before the 10 s the slowed encode would take.
            async with asyncio.timeout(10):
                while True:
                    if not any(root.joinpath(part).exists() for part in _paths(created)):
                        break
                    await asyncio.sleep(0.05)
            assert time.monotonic() - started < LEASE * 1.5
        # The service deletes the provider's video on either: the job is forgotten with it.
        assert await provider.jobs.get(created["id"]) is None
        assert not any(root.joinpath(part).exists() for part in _paths(created))


def _paths(created: dict[str, Any]) -> list[str]:
    return [
        f"sources/{created['id']}",
        f"videos/{created['playbackId']}",
        f".work/{created['id']}",
    ]


@pytest.mark.parametrize("kind", ["corrupt", "damaged-part-way", "audio-only"])
async def test_a_file_that_is_no_video_fails_invalid_file(tmp_path: Path, kind: str) -> None:
    """A damaged file (at its start, or part-way through: the probe passes, the transcode finds
    it) and an audio-only one end FAILED invalid_file with a reason for people."""
    settings = local_settings(tmp_path / "data")
    clip = make_clip(seconds=1.0)
    video = {
        "corrupt": lambda: clip[:64] + bytes(len(clip) - 64),
        "damaged-part-way": lambda: damage_part_way(make_clip(seconds=3.0)),
        "audio-only": lambda: make_clip(video=False),
    }[kind]()
    async with running_service(settings) as service:
        with worker_processes(settings):
            created = await _upload(service, video)
            failed = await service.wait_for("alice", created["id"], {"ready", "failed"}, 60)
    assert failed["status"] == "failed", failed
    assert failed["failureCode"] == "invalid_file"
    assert failed["failureReason"]
    stored = [path for path in settings.local_storage_dir.rglob("*") if path.is_file()]
    assert stored == [], "a failed upload keeps nothing"


@pytest.mark.postgres
async def test_on_postgres_two_workers_never_process_the_same_job(tmp_path: Path) -> None:
    """Two worker processes on one PostgreSQL database: every job is claimed exactly once."""
    need(os.environ.get(POSTGRES_URL_VARIABLE), f"{POSTGRES_URL_VARIABLE} is not set")
    async with fresh_postgres_database() as database_url:
        settings = local_settings(tmp_path / "data", database_url=database_url)
        async with running_service(settings) as service:
            provider = await _provider(service)
            clip = make_clip(seconds=1.0, audio=False)
            created = [await _upload(service, clip) for _ in range(4)]
            with worker_processes(settings, count=2):
                for upload in created:
                    ready = await service.wait_for("alice", upload["id"], {"ready", "failed"}, 60)
                    assert ready["status"] == "ready", ready
            jobs = [await provider.jobs.get(upload["id"]) for upload in created]
    # Which worker takes how many depends on which starts first; that no job was claimed twice
    # does not (test_local_jobs claims concurrently on every connection at once).
    assert all(job is not None and job.attempts == 1 for job in jobs), jobs


async def test_the_reconciler_reads_a_finished_job_whose_webhooks_were_lost(
    tmp_path: Path,
) -> None:
    """A worker whose webhooks never arrive: the reconciler asks the provider, which reads the
    job, and the upload ends READY with its duration and thumbnail all the same."""
    settings = local_settings(tmp_path / "data", service={"reconcile_processing_after_seconds": 0})
    async with running_service(settings) as service:
        provider = await _provider(service)

        async def lost(_: bytes, __: Mapping[str, str]) -> None:
            raise ConnectionError("the service is unreachable")

        built: LocalWorker = await resolve(service.container.local_worker)
        worker = LocalWorker(
            name="cut-off",
            jobs=built.jobs,
            storage=built.storage,
            notifier=Notifier(sender=lost, secret="unused", clock=built.clock),
            clock=built.clock,
            base_url=built.base_url,
            settings=built.settings,
        )
        created = await _upload(service, make_clip(seconds=1.0, audio=False))
        await service.wait_for("alice", created["id"], {"processing"})
        assert await worker.run_once()
        job = await provider.jobs.get(created["id"])
        assert job is not None
        assert job.state is JobState.DONE
        assert (await service.status("alice", created["id"])).json()["status"] == "processing"

        reconciler: Reconciler = await resolve(service.container.reconciler)
        await reconciler.run_once()
        ready = (await service.status("alice", created["id"])).json()
    assert ready["status"] == "ready", ready
    assert ready["duration"] == pytest.approx(1.0, abs=0.1)
    assert ready["thumbnailUrl"].endswith(f"/videos/{created['playbackId']}/thumbnail.jpg")


async def test_the_worker_encodes_with_the_configured_x264_preset(tmp_path: Path) -> None:
    """LOCAL_X264_PRESET reaches the encoders: ultrafast writes Constrained Baseline H.264 (no
    CABAC, no B-frames), where the default veryfast writes High profile."""
    settings = local_settings(tmp_path / "data", x264_preset="ultrafast")
    async with running_service(settings) as service:
        worker: LocalWorker = await resolve(service.container.local_worker)
        assert worker.settings.preset == "ultrafast"
        created = await _upload(service, make_clip(seconds=1.0, audio=False))
        await service.wait_for("alice", created["id"], {"processing"})
        assert await worker.run_once()
        ready = await service.wait_for("alice", created["id"], {"ready", "failed"}, 30)
        assert ready["status"] == "ready", ready
        master = next(settings.local_storage_dir.rglob("master.m3u8")).read_text()
    assert 'CODECS="avc1.42C0' in master, master
