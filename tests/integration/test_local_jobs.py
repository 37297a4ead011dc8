"""The local provider's job store on SQLite and PostgreSQL: claims, leases, guarded changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.providers.local import JobState, SqlJobStore
from adapters.repositories.sql import create_engine, upgrade
from tests.support.repositories import postgres_engine, postgres_url

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str | None:
    """The backend: None for SQLite, else the PostgreSQL schema."""
    return request.getfixturevalue("pg_schema") if request.param == "postgres" else None


@pytest.fixture
async def engines(database: str | None, tmp_path: Path) -> AsyncIterator[list[Any]]:
    """Four engines on one database (four workers' connections), its job table empty."""
    if database is None:
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
        await upgrade(url)
        made = [create_engine(url) for _ in range(4)]
    else:
        made = [postgres_engine(postgres_url(), database, pool_size=1) for _ in range(4)]
    async with made[0].begin() as connection:
        await connection.execute(sa.text("DELETE FROM local_jobs"))
    try:
        yield made
    finally:
        for engine in made:
            await engine.dispose()


async def _enqueue(store: SqlJobStore, count: int) -> list[str]:
    ids = [f"upload-{index:03d}" for index in range(count)]
    for index, upload_id in enumerate(ids):
        await store.enqueue(
            upload_id=upload_id,
            playback_id=f"pb{index}",
            source=f"sources/{upload_id}",
            mime_type="video/mp4",
            now=T0 + timedelta(milliseconds=index),
        )
    return ids


async def test_concurrent_claimers_never_take_the_same_job(engines: list[Any]) -> None:
    """Four workers claiming at once, each on its own connection: every job exactly once."""
    stores = [SqlJobStore(engine) for engine in engines]
    ids = await _enqueue(stores[0], 24)
    taken: dict[str, list[str]] = {}

    async def work(store: SqlJobStore, name: str) -> None:
        while (job := await store.claim(name, T0, LEASE)) is not None:
            taken.setdefault(job.upload_id, []).append(name)
            await asyncio.sleep(0)

    await asyncio.gather(*(work(store, f"w{index}") for index, store in enumerate(stores)))
    assert sorted(taken) == ids
    assert all(len(names) == 1 for names in taken.values()), taken


async def test_a_lease_that_ran_out_lets_another_worker_take_the_job(engines: list[Any]) -> None:
    """The oldest job first; a live lease keeps it, a lapsed one gives it to the next claimer,
    and the first worker's renewals and results are refused from then on."""
    store = SqlJobStore(engines[0])
    (upload_id,) = await _enqueue(store, 1)
    first = await store.claim("a", T0, LEASE)
    assert first is not None
    assert (first.state, first.attempts, first.worker) == (JobState.RUNNING, 1, "a")
    assert await store.claim("b", T0 + LEASE / 2, LEASE) is None
    assert await store.renew(upload_id, "a", T0 + LEASE / 2, LEASE, progress=40)
    assert await store.claim("b", T0 + LEASE, LEASE) is None  # renewed until 1.5 leases
    again = await store.claim("b", T0 + LEASE * 2, LEASE)
    assert again is not None
    assert (again.worker, again.attempts, again.progress) == ("b", 2, 0)
    assert not await store.renew(upload_id, "a", T0 + LEASE * 2, LEASE, progress=50)
    assert not await store.finish(upload_id, "a", T0, duration=1.0, stored_bytes=1)
    assert await store.finish(upload_id, "b", T0 + LEASE * 2, duration=2.5, stored_bytes=1234)
    done = await store.get(upload_id)
    assert done is not None
    assert (done.state, done.duration, done.stored_bytes) == (JobState.DONE, 2.5, 1234)
    assert await store.claim("c", T0 + LEASE * 10, LEASE) is None


async def test_cancel_stops_queued_and_running_jobs_but_not_final_ones(
    engines: list[Any],
) -> None:
    """Cancelled jobs are never claimed; a running one's worker is refused; done stays done."""
    store = SqlJobStore(engines[0])
    queued, running, done = await _enqueue(store, 3)
    assert (await store.claim("w", T0, LEASE)).upload_id == queued  # type: ignore[union-attr]
    await store.release(queued, "w", T0)
    for _ in range(3):
        await store.claim("w", T0, LEASE)
    assert await store.finish(done, "w", T0, duration=1.0, stored_bytes=1)
    await store.cancel(queued, T0)
    await store.cancel(running, T0)
    await store.cancel(done, T0)
    states = {
        upload_id: (await store.get(upload_id)).state for upload_id in (queued, running, done)
    }  # type: ignore[union-attr]
    assert states == {
        queued: JobState.CANCELLED,
        running: JobState.CANCELLED,
        done: JobState.DONE,
    }
    assert not await store.renew(running, "w", T0, LEASE, progress=10)
    assert await store.claim("x", T0 + LEASE * 10, LEASE) is None
