"""The fake provider's tus 1.0 server, spoken to over real HTTP like tus-js-client would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.service import (
    RunningService,
    assert_matches_openapi,
    make_video,
    running_service,
    service_settings,
)
from tests.support.videos import make_noisy_video

TUS = {"Tus-Resumable": "1.0.0"}
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RunningService]:
    """The service with every upload going over tus (threshold 0)."""
    settings = service_settings(tmp_path, fake_tus_threshold_bytes=0)
    async with running_service(settings) as running:
        yield running


@pytest.fixture(scope="module")
def video() -> bytes:
    """A real two-second H.264 MP4."""
    return make_video(seconds=2.0)


async def _create(service: RunningService, video: bytes) -> dict[str, object]:
    response = await service.create(fileSize=len(video))
    assert response.status_code == 201
    body: dict[str, object] = response.json()
    return body


async def _offset(client: httpx.AsyncClient, url: str) -> int:
    head = await client.head(url, headers=TUS)
    assert head.status_code == 200, head.text
    assert head.headers["Tus-Resumable"] == "1.0.0"
    assert head.headers["Cache-Control"] == "no-store"
    return int(head.headers["Upload-Offset"])


async def test_threshold_splits_put_and_tus(tmp_path: Path, video: bytes) -> None:
    """Files at or above the threshold get a tus resource; smaller ones a PUT URL."""
    settings = service_settings(tmp_path, fake_tus_threshold_bytes=len(video))
    async with running_service(settings) as service:
        large = await service.create(fileSize=len(video))
        small = await service.create(fileSize=len(video) - 1)
    assert_matches_openapi("POST", "/api/v1/media/upload/direct", large)
    tus = large.json()["upload"]
    assert tus["protocol"] == "tus"
    assert tus["method"] == "PATCH"
    assert tus["headers"] == TUS
    assert "/api/v1/media/fake/tus/" in tus["url"]
    assert tus["chunkSize"] == settings.fake_upload_chunk_bytes
    assert small.json()["upload"]["protocol"] == "put"


async def test_options_advertises_version_and_limit(service: RunningService, video: bytes) -> None:
    """OPTIONS answers 204 with Tus-Version and Tus-Max-Size, and works as a CORS preflight."""
    url = str((await _create(service, video))["uploadUrl"])
    response = await service.client.options(url)
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Max-Size"] == str(service.settings.max_upload_bytes)
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    assert "Upload-Offset" in response.headers["Access-Control-Expose-Headers"]


async def test_patches_append_and_finish_ready(service: RunningService, video: bytes) -> None:
    """HEAD reports the offset; PATCHes append; the last byte brings webhooks and READY."""
    created = await _create(service, video)
    url = str(created["uploadUrl"])
    client = service.client
    head = await client.head(url, headers=TUS)
    assert head.headers["Upload-Length"] == str(len(video))
    assert await _offset(client, url) == 0
    half = len(video) // 2
    first = await client.patch(url, content=video[:half], headers={**PATCH, "Upload-Offset": "0"})
    assert first.status_code == 204
    assert first.headers["Upload-Offset"] == str(half)
    assert await _offset(client, url) == half
    status = await service.status("alice", str(created["id"]))
    assert status.json()["status"] == "uploading"
    last = await client.patch(
        url, content=video[half:], headers={**PATCH, "Upload-Offset": str(half)}
    )
    assert last.status_code == 204
    assert last.headers["Upload-Offset"] == str(len(video))
    ready = await service.wait_for("alice", str(created["id"]), {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert ready["duration"] == pytest.approx(2.0, abs=0.2)
    # A client that lost the last answer asks again: the whole file is there.
    assert await _offset(client, url) == len(video)
    again = await client.patch(url, content=b"x", headers={**PATCH, "Upload-Offset": "0"})
    assert again.status_code == 404
    playback = await client.get(
        f"/api/v1/media/{created['id']}/playback", headers=service.auth("alice")
    )
    assert (await client.get(playback.json()["url"])).content == video


async def test_wrong_offset_conflicts(service: RunningService, video: bytes) -> None:
    """A PATCH whose Upload-Offset is not the stored size answers 409 and stores nothing."""
    url = str((await _create(service, video))["uploadUrl"])
    client = service.client
    await client.patch(url, content=video[:100], headers={**PATCH, "Upload-Offset": "0"})
    for wrong in ("0", "50", "101"):
        response = await client.patch(
            url, content=video[100:200], headers={**PATCH, "Upload-Offset": wrong}
        )
        assert response.status_code == 409, wrong
        assert response.headers["Upload-Offset"] == "100"
        assert response.headers["Tus-Resumable"] == "1.0.0"
    assert await _offset(client, url) == 100


async def test_protocol_errors(service: RunningService, video: bytes) -> None:
    """No Tus-Resumable is 412, a wrong Content-Type 415, a bad Upload-Offset 400."""
    url = str((await _create(service, video))["uploadUrl"])
    client = service.client
    no_version = await client.patch(url, content=b"abc", headers={"Upload-Offset": "0"})
    assert no_version.status_code == 412
    assert no_version.headers["Tus-Version"] == "1.0.0"
    assert (await client.head(url)).status_code == 412
    wrong_type = await client.patch(
        url, content=b"abc", headers={**TUS, "Upload-Offset": "0", "Content-Type": "video/mp4"}
    )
    assert wrong_type.status_code == 415
    for bad in ("", "-1", "ten"):
        response = await client.patch(url, content=b"abc", headers={**PATCH, "Upload-Offset": bad})
        assert response.status_code == 400, bad
    forged = url[:-4] + "0000"
    assert (await client.head(forged, headers=TUS)).status_code == 404
    assert await _offset(client, url) == 0


async def test_too_many_bytes_fail_the_upload(service: RunningService, video: bytes) -> None:
    """Bytes past the declared length are refused and the upload ends FAILED size_mismatch."""
    created = await _create(service, video)
    response = await service.client.patch(
        str(created["uploadUrl"]), content=video + b"extra", headers={**PATCH, "Upload-Offset": "0"}
    )
    assert response.status_code == 422
    failed = await service.wait_for("alice", str(created["id"]), {"ready", "failed"})
    assert failed["failureCode"] == "size_mismatch"


async def _send_partial(
    url: str, method: str, headers: dict[str, str], body: bytes, total: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a raw HTTP request declaring ``total`` body bytes, and send only ``body``."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [f"{method} {parts.path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {total}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    return reader, writer


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait until ``check()`` holds, polling; fail after ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"not true within {seconds} s: {check.__name__}")


async def _resume(service: RunningService, url: str, video: bytes) -> httpx.Response:
    """Resume like tus-js-client: HEAD for the offset, PATCH the rest, again on 409."""
    async with asyncio.timeout(10):
        while True:
            offset = await _offset(service.client, url)
            response = await service.client.patch(
                url, content=video[offset:], headers={**PATCH, "Upload-Offset": str(offset)}
            )
            if response.status_code != 409:
                return response
            await asyncio.sleep(0.02)


async def test_resume_after_a_cut_patch(service: RunningService) -> None:
    """A PATCH cut mid-body keeps what arrived; the client resumes from HEAD's offset to READY."""
    video = make_noisy_video(seconds=2.0)
    created = await _create(service, video)
    url = str(created["uploadUrl"])
    sent = len(video) * 2 // 3
    _, writer = await _send_partial(
        url, "PATCH", {**PATCH, "Upload-Offset": "0"}, video[:sent], len(video)
    )

    async def some_stored() -> bool:
        return await _offset(service.client, url) > 0

    await _eventually(some_stored)
    writer.close()  # the connection drops with a third of the body unsent
    await writer.wait_closed()
    rest = await _resume(service, url, video)
    assert rest.status_code == 204
    ready = await service.wait_for("alice", str(created["id"]), {"ready", "failed"})
    assert ready["status"] == "ready", ready
    playback = await service.client.get(
        f"/api/v1/media/{created['id']}/playback", headers=service.auth("alice")
    )
    assert (await service.client.get(playback.json()["url"])).content == video


async def test_cut_chunked_put_keeps_whole_chunks_only(tmp_path: Path) -> None:
    """A chunked PUT cut mid-chunk stores nothing of that chunk, so retrying it succeeds."""
    video = make_noisy_video(seconds=2.0)
    async with running_service(service_settings(tmp_path)) as service:
        created = await _create(service, video)
        url = str(created["uploadUrl"])
        size = len(video)
        half = size // 2
        first = await service.client.put(
            url, content=video[:half], headers={"Content-Range": f"bytes 0-{half - 1}/{size}"}
        )
        assert first.status_code == 308
        _, writer = await _send_partial(
            url,
            "PUT",
            {"Content-Range": f"bytes {half}-{size - 1}/{size}"},
            video[half : half + 50_000],
            size - half,
        )
        part = service.settings.data_dir / "incoming" / f"{created['id']}.part"

        async def chunk_arriving() -> bool:
            return part.stat().st_size > half

        # The bytes of the cut chunk are being written (the part file grows)...
        await _eventually(chunk_arriving)
        writer.close()
        await writer.wait_closed()
        # ...and the retry of the same chunk (served after the cut one, under the lock) fits.
        retried = await service.client.put(
            url, content=video[half:], headers={"Content-Range": f"bytes {half}-{size - 1}/{size}"}
        )
        assert retried.status_code == 200, retried.text
        ready = await service.wait_for("alice", str(created["id"]), {"ready", "failed"})
        assert ready["status"] == "ready", ready
