"""The local provider end to end over HTTP: real uploads, real worker processes, real HLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from media_core.events import DomainEvent, UploadProcessing, UploadProgressed
from tests.support.local import (
    decoded_frames,
    fetch_hls,
    image_size,
    local_settings,
    make_clip,
    worker_processes,
)
from tests.support.service import RunningService, running_service


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
        assert progress[0] == 0 and progress == sorted(progress), progress
        print(progress)

        playback = (
            await service.client.get(
                f"/api/v1/media/{created['id']}/playback", headers=service.auth("alice")
            )
        ).json()
        assert playback["mimeType"] == "application/vnd.apple.mpegurl"
        files = await fetch_hls(service.client, playback["url"])
        segments = [body for url, body in files.items() if not url.endswith(".m3u8")]
        assert segments and sum(decoded_frames(segment) for segment in segments) == 50

        ranged = await service.client.get(
            next(url for url in files if url.endswith(".ts")), headers={"Range": "bytes=0-187"}
        )
        assert ranged.status_code == 206 and len(ranged.content) == 188

        thumbnail = await service.client.get(playback["thumbnailUrl"])
        assert thumbnail.headers["content-type"] == "image/jpeg"
        assert "max-age" in thumbnail.headers["cache-control"]
        assert image_size(thumbnail.content, "jpeg") == (320, 240)
        sized = await service.client.get(
            playback["thumbnailUrl"].replace(".jpg", ".webp"), params={"time": 1.5, "width": 160}
        )
        assert sized.headers["content-type"] == "image/webp"
        assert image_size(sized.content, "webp") == (160, 120)
        bad = await service.client.get(playback["thumbnailUrl"], params={"width": "wide"})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
