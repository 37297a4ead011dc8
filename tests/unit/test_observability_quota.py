"""The per-user quota in the core: checked on create, before anything is written or called."""

from __future__ import annotations

import pytest

from media_core.errors import QuotaExceeded
from media_core.ports import Usage
from media_core.services import Quota, RequestUpload
from tests.unit.test_services import make_world


def request(size: int = 1000) -> RequestUpload:
    """A valid create request of ``size`` bytes."""
    return RequestUpload(file_name="clip.mp4", file_size=size, mime_type="video/mp4")


def test_quota_arithmetic() -> None:
    """0 is unlimited; a limit is reached when one more would go over it."""
    assert Quota().unlimited
    Quota().check(Usage(bytes=10**15, count=10**9), 10**12)
    Quota(max_uploads=2).check(Usage(bytes=0, count=1), 1)
    with pytest.raises(QuotaExceeded, match="2 of 2 uploads"):
        Quota(max_uploads=2).check(Usage(bytes=0, count=2), 1)
    Quota(max_bytes=100).check(Usage(bytes=60, count=9), 40)
    with pytest.raises(QuotaExceeded, match="41 more requested"):
        Quota(max_bytes=100).check(Usage(bytes=60, count=9), 41)


async def test_create_over_quota_writes_nothing_and_calls_no_provider() -> None:
    """A refused create leaves no record and opens no provider slot; failed uploads free room."""
    world = make_world(quota=Quota(max_bytes=2500, max_uploads=5))
    first = await world.service.request_upload("alice", request(2000))
    with pytest.raises(QuotaExceeded):
        await world.service.request_upload("alice", request(1000))
    assert len(await world.all_uploads()) == 1
    assert len(world.provider.created) == 1
    await world.service.request_upload("bob", request(2000))  # another user's own quota
    await world.service.cancel_upload("alice", first.upload.id)
    await world.service.request_upload("alice", request(2500))
    assert await world.service.usage("alice") == Usage(bytes=2500, count=1)
