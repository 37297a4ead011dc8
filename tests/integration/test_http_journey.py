"""The whole journey through the real HTTP service on the embedded default (SQLite + fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.service import (
    RunningService,
    assert_matches_openapi,
    make_video,
    running_service,
    service_settings,
)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RunningService]:
    """The service on a fresh SQLite file and data directory."""
    async with running_service(service_settings(tmp_path)) as running:
        yield running


@pytest.fixture(scope="module")
def video() -> bytes:
    """A real two-second H.264 MP4."""
    return make_video(seconds=2.0)


async def test_create_put_webhooks_ready(service: RunningService, video: bytes) -> None:
    """Create, PUT the bytes of a real MP4, and the fake's signed webhooks make it READY."""
    created = await service.create(fileSize=len(video), fileName="holiday.mp4")
    assert created.status_code == 201
    assert_matches_openapi("POST", "/api/v1/media/upload/direct", created)
    body = created.json()
    assert body["status"] == "ready_for_upload"
    assert body["playbackId"] is None
    assert body["upload"]["method"] == "PUT"
    assert int(created.headers["RateLimit-Remaining"]) >= 0

    put = await service.client.put(
        body["uploadUrl"], content=video, headers=body["upload"]["headers"]
    )
    assert put.status_code == 200

    ready = await service.wait_for("alice", body["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert ready["progress"] == 100
    assert ready["duration"] == pytest.approx(2.0, abs=0.2)
    assert ready["playbackId"]
    assert ready["thumbnailUrl"].endswith("/thumbnail.svg")
    status = await service.status("alice", ready["playbackId"])
    assert status.status_code == 200
    assert status.json()["id"] == body["id"]
    assert_matches_openapi("GET", "/api/v1/media/status/{id}", status)

    thumbnail = await service.client.get(ready["thumbnailUrl"])
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"].startswith("image/svg+xml")
    assert "0:02" not in thumbnail.text, "the tile shows the duration; the image must not repeat it"
    playback = await service.client.get(
        f"/api/v1/media/{body['id']}/playback", headers=service.auth("alice")
    )
    assert playback.status_code == 200
    assert_matches_openapi("GET", "/api/v1/media/{id}/playback", playback)
    served = await service.client.get(playback.json()["url"])
    assert served.status_code == 200
    assert served.content == video
    ranged = await service.client.get(playback.json()["url"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert ranged.content == video[:100]

    listing = await service.client.get("/api/v1/media", headers=service.auth("alice"))
    assert_matches_openapi("GET", "/api/v1/media", listing)
    assert [item["id"] for item in listing.json()["items"]] == [body["id"]]


async def test_other_users_see_nothing(service: RunningService) -> None:
    """Someone else's upload answers 404 exactly like a missing one, and is not listed."""
    created = (await service.create("alice")).json()
    theirs = await service.status("mallory", created["id"])
    missing = await service.status("mallory", "no-such-upload")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["type"] == missing.json()["type"] == "/problems/upload-not-found"
    assert_matches_openapi("GET", "/api/v1/media/status/{id}", theirs)
    for path, method in (
        (f"/api/v1/media/{created['id']}/cancel", "POST"),
        (f"/api/v1/media/{created['id']}", "DELETE"),
        (f"/api/v1/media/{created['id']}/playback", "GET"),
    ):
        response = await service.client.request(method, path, headers=service.auth("mallory"))
        assert response.status_code == 404, path
    listing = await service.client.get("/api/v1/media", headers=service.auth("mallory"))
    assert listing.json()["items"] == []
    still = await service.status("alice", created["id"])
    assert still.json()["status"] == "uploading"


async def test_chunked_put_resumes(service: RunningService, video: bytes) -> None:
    """Content-Range chunks answer 308 with the stored Range until the last one completes."""
    created = (await service.create(fileSize=len(video))).json()
    url = created["uploadUrl"]
    half = len(video) // 2
    first = await service.client.put(
        url, content=video[:half], headers={"Content-Range": f"bytes 0-{half - 1}/{len(video)}"}
    )
    assert first.status_code == 308
    assert first.headers["Range"] == f"bytes=0-{half - 1}"
    asked = await service.client.put(url, headers={"Content-Range": f"bytes */{len(video)}"})
    assert asked.status_code == 308
    assert asked.headers["Range"] == f"bytes=0-{half - 1}"
    wrong = await service.client.put(
        url, content=video[:10], headers={"Content-Range": f"bytes 5-14/{len(video)}"}
    )
    assert wrong.status_code == 409
    last = await service.client.put(
        url,
        content=video[half:],
        headers={"Content-Range": f"bytes {half}-{len(video) - 1}/{len(video)}"},
    )
    assert last.status_code == 200
    ready = await service.wait_for("alice", created["id"], {"ready", "failed"})
    assert ready["status"] == "ready"
    assert ready["duration"] == pytest.approx(2.0, abs=0.2)


async def test_size_mismatch_fails_with_reason(service: RunningService, video: bytes) -> None:
    """Fewer bytes than declared: the PUT answers 422 and the upload ends FAILED size_mismatch."""
    created = (await service.create(fileSize=len(video) + 10)).json()
    put = await service.client.put(created["uploadUrl"], content=video)
    assert put.status_code == 422
    assert put.json()["type"] == "/problems/upload-mismatch"
    assert "size_mismatch" in put.json()["detail"]
    failed = await service.wait_for("alice", created["id"], {"ready", "failed"})
    assert failed["status"] == "failed"
    assert failed["failureCode"] == "size_mismatch"
    assert str(len(video)) in failed["failureReason"]


async def test_oversized_body_is_refused(service: RunningService, video: bytes) -> None:
    """More bytes than declared are refused and the upload ends FAILED."""
    created = (await service.create(fileSize=len(video) - 1)).json()
    put = await service.client.put(created["uploadUrl"], content=video)
    assert put.status_code == 422
    assert put.json()["type"] == "/problems/upload-mismatch"
    failed = await service.wait_for("alice", created["id"], {"ready", "failed"})
    assert failed["failureCode"] == "size_mismatch"


async def test_type_mismatch_fails_with_reason(service: RunningService) -> None:
    """Bytes that are not the declared container: the PUT answers 422, the upload ends FAILED."""
    junk = b"this is not a video at all" * 100
    created = (await service.create(fileSize=len(junk))).json()
    put = await service.client.put(created["uploadUrl"], content=junk)
    assert put.status_code == 422
    assert put.json()["type"] == "/problems/upload-mismatch"
    assert "type_mismatch" in put.json()["detail"]
    failed = await service.wait_for("alice", created["id"], {"ready", "failed"})
    assert failed["status"] == "failed"
    assert failed["failureCode"] == "type_mismatch"


async def test_webm_declared_as_mp4_fails(service: RunningService) -> None:
    """A real WebM declared as MP4 is caught by its container signature."""
    webm = make_video(seconds=1.0, container_format="webm")
    created = (await service.create(fileSize=len(webm))).json()
    await service.client.put(created["uploadUrl"], content=webm)
    failed = await service.wait_for("alice", created["id"], {"ready", "failed"})
    assert failed["failureCode"] == "type_mismatch"


async def test_webm_upload_reports_its_duration(service: RunningService) -> None:
    """A real WebM becomes READY with the duration from its EBML header."""
    webm = make_video(seconds=1.5, container_format="webm")
    created = (
        await service.create(fileSize=len(webm), fileName="clip.webm", mimeType="video/webm")
    ).json()
    await service.client.put(created["uploadUrl"], content=webm)
    ready = await service.wait_for("alice", created["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert ready["duration"] == pytest.approx(1.5, abs=0.2)


async def test_cancel_then_upload_url_is_dead(service: RunningService, video: bytes) -> None:
    """Cancel makes the upload FAILED/cancelled, kills its URL, and cannot be repeated."""
    created = (await service.create(fileSize=len(video))).json()
    cancelled = await service.client.post(
        f"/api/v1/media/{created['id']}/cancel", headers=service.auth("alice")
    )
    assert cancelled.status_code == 200
    assert_matches_openapi("POST", "/api/v1/media/{id}/cancel", cancelled)
    assert cancelled.json()["status"] == "failed"
    assert cancelled.json()["failureCode"] == "cancelled"
    put = await service.client.put(created["uploadUrl"], content=video)
    assert put.status_code == 404
    again = await service.client.post(
        f"/api/v1/media/{created['id']}/cancel", headers=service.auth("alice")
    )
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/not-cancellable"
    assert_matches_openapi("POST", "/api/v1/media/{id}/cancel", again)


async def test_delete_removes_upload(service: RunningService, video: bytes) -> None:
    """DELETE answers 204 and the upload is gone."""
    created = (await service.create(fileSize=len(video))).json()
    await service.client.put(created["uploadUrl"], content=video)
    await service.wait_for("alice", created["id"], {"ready"})
    deleted = await service.client.delete(
        f"/api/v1/media/{created['id']}", headers=service.auth("alice")
    )
    assert deleted.status_code == 204
    assert (await service.status("alice", created["id"])).status_code == 404


async def test_private_playback_is_signed(service: RunningService, video: bytes) -> None:
    """A PRIVATE video plays only through the signed URL the owner gets."""
    created = (
        await service.create(
            fileSize=len(video), metadata={"title": "secret", "visibility": "PRIVATE"}
        )
    ).json()
    await service.client.put(created["uploadUrl"], content=video)
    ready = await service.wait_for("alice", created["id"], {"ready"})
    not_ready_yet = ready["status"] != "ready"
    assert not not_ready_yet
    playback = (
        await service.client.get(
            f"/api/v1/media/{created['id']}/playback", headers=service.auth("alice")
        )
    ).json()
    assert playback["token"]
    unsigned = playback["url"].split("?")[0]
    assert (await service.client.get(unsigned)).status_code == 404
    assert (await service.client.get(playback["url"])).content == video
    forged = unsigned + "?token=9999999999.deadbeef"
    assert (await service.client.get(forged)).status_code == 404


async def test_playback_before_ready_conflicts(service: RunningService) -> None:
    """Asking to play an unfinished upload is a 409, not a 500."""
    created = (await service.create()).json()
    response = await service.client.get(
        f"/api/v1/media/{created['id']}/playback", headers=service.auth("alice")
    )
    assert response.status_code == 409
    assert_matches_openapi("GET", "/api/v1/media/{id}/playback", response)


async def test_list_pages_newest_first(service: RunningService) -> None:
    """The list route pages the caller's uploads newest first with a cursor."""
    ids = [(await service.create(fileName=f"v{i}.mp4")).json()["id"] for i in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await service.client.get(
            "/api/v1/media", params=params, headers=service.auth("alice")
        )
        assert page.status_code == 200
        assert_matches_openapi("GET", "/api/v1/media", page)
        seen.extend(item["id"] for item in page.json()["items"])
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


async def test_restart_keeps_every_upload(tmp_path: Path, video: bytes) -> None:
    """Stopping and starting the service on the same data directory loses nothing."""
    settings = service_settings(tmp_path)
    async with running_service(settings) as first:
        done = (await first.create(fileSize=len(video))).json()
        await first.client.put(done["uploadUrl"], content=video)
        ready = await first.wait_for("alice", done["id"], {"ready"})
        pending = (await first.create(fileName="later.mp4", fileSize=len(video))).json()
    async with running_service(settings) as second:
        again = (await second.status("alice", done["id"])).json()
        assert again == ready
        waiting = (await second.status("alice", pending["id"])).json()
        assert waiting["status"] == "uploading"
        # The upload URL issued before the restart still works.
        put = await second.client.put(pending["uploadUrl"], content=video)
        assert put.status_code == 200
        finished = await second.wait_for("alice", pending["id"], {"ready"})
        assert finished["status"] == "ready"
