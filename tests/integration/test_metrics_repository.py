"""The aggregates behind metrics, quotas and ``stats``: the same on every repository backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from adapters.repositories.memory import InMemoryMediaRepository
from adapters.repositories.sql import SqlMediaRepository
from media_core.model import FailureCode, UploadStatus
from media_core.ports import StorageTally, Usage
from tests.support.repositories import (
    T0,
    make_upload,
    open_repository,
)

Repository = InMemoryMediaRepository | SqlMediaRepository


@pytest.fixture
async def repository(backend: tuple[str, str | None], tmp_path: Path) -> AsyncIterator[Repository]:
    """An empty repository on each backend."""
    name, schema = backend
    async with open_repository(name, tmp_path=tmp_path, postgres_schema=schema) as repo:
        assert isinstance(repo, InMemoryMediaRepository | SqlMediaRepository)
        yield repo


async def seed(repository: Repository) -> None:
    """Two owners' uploads over two providers and every status."""
    ready = {
        "status": UploadStatus.READY,
        "duration": 3.0,
        "progress": 100,
        "uploaded_at": T0 + timedelta(seconds=10),
    }
    rows = [
        make_upload("a1", owner_id="ann", file_size=100),
        make_upload("a2", owner_id="ann", file_size=200, status=UploadStatus.PROCESSING),
        make_upload(
            "a3",
            owner_id="ann",
            file_size=400,
            playback_id="pb-a3",
            ready_at=T0 + timedelta(seconds=40),
            updated_at=T0 + timedelta(seconds=40),
            **ready,
        ),
        make_upload(
            "a4",
            owner_id="ann",
            file_size=800,
            status=UploadStatus.FAILED,
            failure_code=FailureCode.CANCELLED,
        ),
        make_upload(
            "b1",
            owner_id="bob",
            provider="mux",
            file_size=1000,
            playback_id="pb-b1",
            ready_at=T0 + timedelta(seconds=70),
            updated_at=T0 + timedelta(seconds=70),
            **ready,
        ),
    ]
    for upload in rows:
        await repository.add(upload)


async def test_usage_counts_what_did_not_fail(repository: Repository) -> None:
    """An owner's usage sums declared sizes of every upload except FAILED ones."""
    await seed(repository)
    assert await repository.usage_for_owner("ann") == Usage(bytes=700, count=3)
    assert await repository.usage_for_owner("bob") == Usage(bytes=1000, count=1)
    assert await repository.usage_for_owner("nobody") == Usage(bytes=0, count=0)


async def test_storage_tallies_group_by_provider_and_status(repository: Repository) -> None:
    """One row per (provider, status) present, sorted, with counts, bytes and cancellations."""
    assert await repository.storage_tallies() == ()
    await seed(repository)
    assert await repository.storage_tallies() == (
        StorageTally("fake", UploadStatus.FAILED, 1, 800, cancelled=1),
        StorageTally("fake", UploadStatus.PROCESSING, 1, 200),
        StorageTally("fake", UploadStatus.READY, 1, 400),
        StorageTally("fake", UploadStatus.UPLOADING, 1, 100),
        StorageTally("mux", UploadStatus.READY, 1, 1000),
    )


async def test_recent_ready_is_newest_first_and_bounded(repository: Repository) -> None:
    """Only READY uploads, most recently changed first, at most ``limit``."""
    await seed(repository)
    assert [u.id for u in await repository.recent_ready(10)] == ["b1", "a3"]
    assert [u.id for u in await repository.recent_ready(1)] == ["b1"]
    later = attrs.evolve(await repository.get("a3"), updated_at=T0 + timedelta(hours=1))
    assert later is not None
    await repository.update(later, expected_version=later.version)
    assert [u.id for u in await repository.recent_ready(10)] == ["a3", "b1"]


async def test_ping_answers(repository: Repository) -> None:
    """A reachable store answers the readiness ping."""
    await repository.ping()
