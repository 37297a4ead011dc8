"""With REDIS_URL set, the creation limit holds across service instances."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import redis.asyncio

from tests.conftest import need
from tests.support.service import running_service, service_settings


async def test_limit_is_shared_by_two_instances(tmp_path: Path) -> None:
    """Two services over one Redis admit the burst once between them, not once each."""
    url = os.environ.get("MEDIA_TEST_REDIS_URL")
    need(url, "MEDIA_TEST_REDIS_URL is not set (a Redis server for the shared rate limit)")
    assert url is not None
    user = f"user-{uuid.uuid4().hex}"
    common = {"redis_url": url, "create_rate_per_minute": 1, "create_rate_burst": 3}
    statuses: list[int] = []
    async with (
        running_service(service_settings(tmp_path / "a", **common)) as first,
        running_service(service_settings(tmp_path / "b", **common)) as second,
    ):
        # Both instances verify tokens with their own local secret; give each its own token.
        for index in range(6):
            instance = first if index % 2 == 0 else second
            statuses.append((await instance.create(user)).status_code)
    assert statuses.count(201) == 3
    assert statuses.count(429) == 3
    client = redis.asyncio.Redis.from_url(url)
    try:
        await client.delete(f"media-core:rl:create:create:{user}")
    finally:
        await client.aclose()
