"""The SQL repository under pressure: concurrent deliveries, and a database that goes away.

Many tasks over several pooled connections apply the deliveries of one upload at once, each
delivered twice, in a shuffled order. The stored end state must be the one the state machine
gives for the same events applied one by one, every delivery must be recorded exactly once, and
the version must count exactly the changes that were applied.

When the database cannot be reached, is killed mid-transaction or times out, every call raises
``RepositoryUnavailable`` (HTTP 503) and no half-written record remains.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.providers.fake import FakeVideoProvider
from adapters.publisher import InProcessEventPublisher
from adapters.rate_limit import InMemoryRateLimiter
from adapters.repositories.sql import (
    SqlMediaRepository,
    create_engine,
    media_uploads,
    schema_status,
    sql_repository,
    upgrade,
    webhook_deliveries,
)
from adapters.system import UlidGenerator
from media_core.errors import RepositoryUnavailable, VersionConflict
from media_core.events import (
    DomainEvent,
    ProviderEvent,
    ProviderEventKind,
    UploadProcessing,
    UploadReady,
)
from media_core.model import MediaUpload
from media_core.ports import DeliveryKey
from media_core.providers import ProviderSet
from media_core.services import MediaService, WebhookOutcome
from media_core.state_machine import apply_event
from tests.support.fakes import FrozenClock
from tests.support.repositories import (
    T0,
    empty_tables,
    make_upload,
    open_repository,
    postgres_engine,
    postgres_url,
)

PROCESSING_EVENTS = 60
COPIES = 2
POOL_SIZE = 8


class CountingRepository:
    """A SQL repository, counting the version conflicts its delivery writes lose."""

    def __init__(self, inner: SqlMediaRepository) -> None:
        self.inner = inner
        self.conflicts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def record_delivery(
        self, delivery: DeliveryKey, received_at: datetime, *, change: MediaUpload | None = None
    ) -> None:
        """Write as the inner repository does, counting lost races."""
        try:
            await self.inner.record_delivery(delivery, received_at, change=change)
        except VersionConflict:
            self.conflicts += 1
            raise


@pytest.fixture(params=["postgres", "sqlite"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The SQL backend under test, with its schema on PostgreSQL."""
    if request.param == "postgres":
        return request.param, request.getfixturevalue("pg_schema")
    return request.param, None


@pytest.fixture
async def repository(
    backend: tuple[str, str | None], tmp_path: Path
) -> AsyncIterator[CountingRepository]:
    """A counting SQL repository over a pool of several connections."""
    name, schema = backend
    async with open_repository(
        name, tmp_path=tmp_path, postgres_schema=schema, pool_size=POOL_SIZE, max_overflow=0
    ) as plain:
        assert isinstance(plain, SqlMediaRepository)
        # On SQLAlchemy's pool (no driver pool), whose checkouts the test counts.
        yield CountingRepository(sql_repository(plain.engine))


def _events(upload: MediaUpload, rng: random.Random, *, ready: bool) -> list[ProviderEvent]:
    """Processing events with various progress values and references, maybe a READY one."""
    events = []
    for n in range(PROCESSING_EVENTS):
        refs: dict[str, Any] = rng.choice(
            [
                {"upload_id": upload.id},
                {"provider_upload_id": upload.provider_upload_id},
                {"upload_id": upload.id, "provider_upload_id": upload.provider_upload_id},
            ]
        )
        if rng.random() < 0.3:
            refs |= {"asset_id": "as-1", "playback_id": "pb-1"}
        events.append(
            ProviderEvent(
                provider="fake",
                delivery_id=f"evt-{n:03d}",
                kind=ProviderEventKind.PROCESSING,
                occurred_at=T0 + timedelta(seconds=n),
                progress=rng.choice([None, rng.randrange(0, 100)]),
                event_type="upload.processing",
                **refs,
            )
        )
    if ready:
        events.append(
            ProviderEvent(
                provider="fake",
                delivery_id="evt-ready",
                kind=ProviderEventKind.READY,
                occurred_at=T0 + timedelta(minutes=5),
                upload_id=upload.id,
                asset_id="as-1",
                playback_id="pb-1",
                duration=42.5,
                thumbnail_url="https://img.example/pb-1.jpg",
                event_type="upload.ready",
            )
        )
    return events


@pytest.mark.parametrize("ready", [True, False], ids=["with-ready", "processing-only"])
async def test_concurrent_deliveries_end_where_one_by_one_application_ends(
    repository: CountingRepository, tmp_path: Path, ready: bool
) -> None:
    """Concurrent, duplicated, shuffled deliveries store the state machine's sequential result."""
    clock = FrozenClock(T0 + timedelta(hours=1))
    published: list[DomainEvent] = []
    publisher = InProcessEventPublisher()

    async def collect(event: DomainEvent) -> None:
        published.append(event)

    publisher.subscribe(collect)
    provider = FakeVideoProvider(
        base_url="http://127.0.0.1:9",
        data_dir=tmp_path / "fake",
        secret="secret",
        webhook_secret="webhook-secret",
        clock=clock,
        auto_deliver=False,
    )
    deliveries_total = PROCESSING_EVENTS + int(ready)
    service = MediaService(
        providers=ProviderSet.of(provider),
        repository=repository,
        clock=clock,
        ids=UlidGenerator(),
        rate_limiter=InMemoryRateLimiter(rate=1000, period=1.0, burst=1000),
        publisher=publisher,
        # Every lost race means another delivery committed a change, and there are at most
        # ``deliveries_total`` changes: with more attempts than that no call can give up.
        max_update_attempts=deliveries_total + 1,
    )
    upload = make_upload(provider_upload_id="pu-1")
    await repository.add(upload)
    rng = random.Random(20260301)
    events = _events(upload, rng, ready=ready)
    calls = [event for event in events for _ in range(COPIES)]
    rng.shuffle(calls)

    peak = _track_checkouts(repository)
    results = await asyncio.wait_for(
        asyncio.gather(*(service.apply_provider_event(event) for event in calls)), timeout=60
    )
    await provider.close()

    expected = upload
    for event in events:
        expected = apply_event(expected, event, clock.now()).upload
    stored = await repository.get(upload.id)
    assert stored is not None
    assert stored.outcome() == expected.outcome()
    assert stored.progress == expected.progress
    assert attrs.evolve(stored, version=0) == attrs.evolve(expected, version=0)

    outcomes = Counter(outcome for outcome, _ in results)
    assert outcomes[WebhookOutcome.APPLIED] == stored.version
    assert outcomes[WebhookOutcome.APPLIED] + outcomes[WebhookOutcome.UNCHANGED] == len(events)
    assert outcomes[WebhookOutcome.DUPLICATE] == len(calls) - len(events)
    for event in events:
        assert await repository.has_delivery(DeliveryKey("fake", event.delivery_id))
    async with repository.engine.connect() as conn:
        recorded = await conn.scalar(sa.select(sa.func.count()).select_from(webhook_deliveries))
    assert recorded == len(events)

    names = Counter(type(event) for event in published)
    assert names[UploadReady] == int(ready)
    # One delivery moved the upload out of UPLOADING; with a READY among them, READY may have
    # committed first and skipped PROCESSING altogether.
    assert names[UploadProcessing] == 1 if not ready else names[UploadProcessing] <= 1
    if repository.engine.dialect.name == "postgresql":
        assert peak() > 1, "the deliveries should have run over several connections at once"
    print(  # shown with -s: how hard the test raced
        f"\n{repository.engine.dialect.name}: {len(calls)} calls, {stored.version} changes, "
        f"{repository.conflicts} lost races, {peak()} connections at once"
    )


def _track_checkouts(repository: SqlMediaRepository) -> Any:
    """Count the connections checked out at once; returns a function giving the peak."""
    state = {"now": 0, "peak": 0}
    sync_engine = repository.engine.sync_engine

    @sa.event.listens_for(sync_engine, "checkout")
    def _out(*_: object) -> None:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])

    @sa.event.listens_for(sync_engine, "checkin")
    def _in(*_: object) -> None:
        state["now"] -= 1

    return lambda: state["peak"]


# -- the database goes away ---------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _every_call(repository: SqlMediaRepository) -> list[Awaitable[object]]:
    upload = make_upload()
    key = DeliveryKey("fake", "evt-1")
    event = ProviderEvent(
        provider="fake",
        delivery_id="evt-1",
        kind=ProviderEventKind.PROCESSING,
        occurred_at=T0,
        upload_id=upload.id,
    )
    return [
        repository.add(upload),
        repository.get(upload.id),
        repository.get_by_playback_id("pb-1"),
        repository.find_for_event(event),
        repository.update(upload, expected_version=0),
        repository.record_delivery(key, T0, change=attrs.evolve(upload, version=1)),
        repository.record_delivery(key, T0),
        repository.has_delivery(key),
        repository.prune_deliveries(T0),
        repository.list_for_owner(upload.owner_id, limit=5, cursor=None),
        repository.delete(upload.id),
        repository.delete_all_for_user(upload.owner_id),
        schema_status(repository.engine),
        upgrade(repository.engine),
    ]


@pytest.mark.parametrize("kind", ["postgres-closed-port", "sqlite-unopenable"])
async def test_an_unreachable_database_makes_every_call_unavailable(
    kind: str, tmp_path: Path
) -> None:
    """No server on the port (or a SQLite path that cannot be opened): RepositoryUnavailable."""
    if kind == "postgres-closed-port":
        url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"
    else:
        url = f"sqlite:///{tmp_path}"  # a directory, not a database file
    threads_before = set(threading.enumerate())
    engine = create_engine(url, connect_timeout=2.0, pool_timeout=2.0)
    try:
        repository = sql_repository(engine)
        calls = await _every_call(repository)
        for call in calls:
            with pytest.raises(RepositoryUnavailable):
                await asyncio.wait_for(call, timeout=10)
    finally:
        await engine.dispose()
        # aiosqlite stops the worker thread of a failed connection without waiting for it; let
        # those threads finish while this test's event loop still exists.
        for thread in set(threading.enumerate()) - threads_before:
            await asyncio.to_thread(thread.join, 5)


@contextlib.asynccontextmanager
async def _pg_pair(
    schema: str, *, statement_timeout: float
) -> AsyncIterator[tuple[SqlMediaRepository, AsyncEngine]]:
    """A repository on PostgreSQL and a second engine to interfere with it."""
    url = postgres_url()
    engine = postgres_engine(
        url,
        schema,
        statement_timeout=statement_timeout,
        pool_size=2,
        max_overflow=0,
        application_name=schema,  # unique to this run: other runs' backends are not ours to kill
    )
    other = postgres_engine(url, schema)
    await empty_tables(engine)
    try:
        yield sql_repository(engine), other
    finally:
        await engine.dispose()
        await other.dispose()


async def _blocked_update(
    repository: SqlMediaRepository,
    other: AsyncEngine,
    interfere: Callable[[], Awaitable[None]],
) -> tuple[MediaUpload, BaseException | None]:
    """Start an update with a delivery while ``other`` holds the row lock, then ``interfere``."""
    upload = make_upload()
    await repository.add(upload)
    async with other.connect() as holder:
        await holder.begin()
        await holder.execute(
            sa.select(media_uploads.c.id).where(media_uploads.c.id == upload.id).with_for_update()
        )
        task = asyncio.create_task(repository.record_delivery(KEY, T0, change=_advanced(upload)))
        await interfere()
        error: BaseException | None = None
        try:
            await asyncio.wait_for(task, timeout=15)
        except Exception as exc:
            error = exc
        await holder.rollback()
    return upload, error


KEY = DeliveryKey("fake", "evt-mid")


def _advanced(upload: MediaUpload) -> MediaUpload:
    return attrs.evolve(
        upload,
        progress=50,
        updated_at=upload.updated_at + timedelta(seconds=1),
        version=upload.version + 1,
    )


async def _wait_until_blocked(engine: AsyncEngine, application_name: str) -> int:
    """The pid of our backend waiting on the row lock (its delivery already inserted; on
    PostgreSQL the insert and the update are one statement).

    Each poll uses a new transaction: PostgreSQL keeps one snapshot of pg_stat_activity per
    transaction.
    """
    query = sa.text(
        "SELECT pid FROM pg_stat_activity WHERE application_name = :name "
        "AND wait_event_type = 'Lock' "
        "AND (query LIKE 'UPDATE media_uploads%' OR query LIKE 'WITH d AS (INSERT%')"
    ).bindparams(name=application_name)
    for _ in range(200):
        async with engine.connect() as conn:
            pid = await conn.scalar(query)
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.025)
    raise AssertionError("the update never blocked on the row lock")


async def test_a_connection_killed_mid_update_writes_nothing(pg_schema: str) -> None:
    """The backend dies between the delivery insert and the update: unavailable, nothing kept."""
    async with _pg_pair(pg_schema, statement_timeout=20.0) as (repository, other):

        async def terminate() -> None:
            pid = await _wait_until_blocked(other, pg_schema)
            async with other.connect() as killer:
                assert await killer.scalar(sa.select(sa.func.pg_terminate_backend(pid)))

        upload, error = await _blocked_update(repository, other, terminate)
        assert isinstance(error, RepositoryUnavailable), error
        assert not await repository.has_delivery(KEY)
        assert await repository.get(upload.id) == upload
        await repository.record_delivery(KEY, T0, change=_advanced(upload))
        stored = await repository.get(upload.id)
        assert stored is not None
        assert stored.version == 1  # the pool recovered, and the delivery applies once


async def test_a_statement_timeout_is_unavailable_and_writes_nothing(pg_schema: str) -> None:
    """An update stuck behind a lock past the statement timeout gives up and rolls back."""
    async with _pg_pair(pg_schema, statement_timeout=0.5) as (repository, other):

        async def wait() -> None:
            await _wait_until_blocked(other, pg_schema)

        upload, error = await _blocked_update(repository, other, wait)
        assert isinstance(error, RepositoryUnavailable), error
        assert "statement timeout" in str(error)
        assert not await repository.has_delivery(KEY)
        assert await repository.get(upload.id) == upload
