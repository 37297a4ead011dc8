"""Per-user usage and quotas through the real service: refused with 403, shown in the list."""

from __future__ import annotations

from pathlib import Path

from tests.support.service import assert_matches_openapi, running_service, service_settings


async def test_upload_count_quota_refuses_then_frees_on_failure(tmp_path: Path) -> None:
    """Two uploads allowed; the third is a 403 quota-exceeded until one of them fails."""
    async with running_service(service_settings(tmp_path, quota_max_uploads=2)) as service:
        first = await service.create()
        second = await service.create()
        third = await service.create()
        other_user = await service.create("bob")
        cancelled = await service.client.post(
            f"/api/v1/media/{first.json()['id']}/cancel", headers=service.auth("alice")
        )
        fourth = await service.create()
        listing = await service.client.get("/api/v1/media", headers=service.auth("alice"))
    assert [first.status_code, second.status_code] == [201, 201]
    assert third.status_code == 403
    assert third.json()["type"] == "/problems/quota-exceeded"
    assert "2 of 2 uploads" in third.json()["detail"]
    assert_matches_openapi("POST", "/api/v1/media/upload/direct", third)
    assert other_user.status_code == 201  # quotas are per user
    assert cancelled.status_code == 200
    assert fourth.status_code == 201
    assert listing.json()["usage"] == {
        "bytes": 2 * 2048,
        "count": 2,
        "maxBytes": None,
        "maxUploads": 2,
    }
    assert len(listing.json()["items"]) == 3  # the refused create left no record


async def test_byte_quota_counts_declared_sizes(tmp_path: Path) -> None:
    """5000 bytes allowed: 3000 fits, 3000 more does not, 2000 more does."""
    async with running_service(service_settings(tmp_path, quota_max_bytes=5000)) as service:
        fits = await service.create(fileSize=3000)
        over = await service.create(fileSize=3000)
        exactly = await service.create(fileSize=2000)
        full = await service.create(fileSize=1)
        listing = await service.client.get("/api/v1/media", headers=service.auth("alice"))
    assert [fits.status_code, over.status_code, exactly.status_code] == [201, 403, 201]
    assert full.status_code == 403
    assert "3000 more requested" in over.json()["detail"]
    assert_matches_openapi("GET", "/api/v1/media", listing)
    assert listing.json()["usage"] == {
        "bytes": 5000,
        "count": 2,
        "maxBytes": 5000,
        "maxUploads": None,
    }


async def test_usage_without_quota(tmp_path: Path) -> None:
    """Without a quota the list still shows usage, with null limits, and an empty user has 0."""
    async with running_service(service_settings(tmp_path)) as service:
        await service.create(fileSize=1234)
        mine = await service.client.get("/api/v1/media", headers=service.auth("alice"))
        theirs = await service.client.get("/api/v1/media", headers=service.auth("carol"))
    assert_matches_openapi("GET", "/api/v1/media", mine)
    assert mine.json()["usage"] == {"bytes": 1234, "count": 1, "maxBytes": None, "maxUploads": None}
    assert theirs.json()["usage"]["count"] == 0
