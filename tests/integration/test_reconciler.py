"""The reconciler over every repository: what it finishes, what it fails, what it leaves alone.

It runs on memory, SQLite and PostgreSQL alike; on PostgreSQL two reconcilers (two engines, as
two instances would have) run at once over the same stale uploads, and the provider is asked
about each upload exactly once. ``media-core reconcile`` and the loop inside the service are
driven for real.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.publisher import InProcessEventPublisher
from adapters.rate_limit import InMemoryRateLimiter
from adapters.repositories.sql import create_engine, sql_repository, upgrade
from adapters.system import UlidGenerator
from entrypoints.container import resolve
from media_core.errors import ProviderUnavailable
from media_core.events import ProviderEvent, ProviderEventKind
from media_core.model import FailureCode, MediaUpload, UploadStatus
from media_core.ports import DeliveryKey, IdempotencyRecord, MediaRepository
from media_core.providers import ProviderSet
from media_core.reconcile import Reconciler, ReconcileSettings
from media_core.services import MediaService
from tests.support.fakes import FrozenClock, ScriptedVideoProvider
from tests.support.processes import run_cli
from tests.support.repositories import (
    T0,
    make_upload,
    open_repository,
    postgres_engine,
    postgres_url,
)
from tests.support.service import running_service, service_settings

NOW = T0 + timedelta(hours=2)
PROVIDER = "scripted"


@attrs.define
class CountingProvider(ScriptedVideoProvider):
    """The scripted provider, counting ``fetch_events`` per upload and yielding while it reads."""

    fetched: Counter[str] = attrs.field(factory=Counter)
    fetch_error: Exception | None = None

    async def fetch_events(self, upload: MediaUpload, now: datetime) -> Sequence[ProviderEvent]:
        """Count the call, let other tasks run (as a network read would), then answer."""
        self.fetched[upload.id] += 1
        await asyncio.sleep(0.001)
        if self.fetch_error is not None:
            raise self.fetch_error
        return await super().fetch_events(upload, now)


def service_for(
    repository: MediaRepository, provider: ScriptedVideoProvider, clock: FrozenClock
) -> MediaService:
    """A service over ``repository`` and ``provider`` at the test clock's time."""
    return MediaService(
        providers=ProviderSet.of(provider),
        repository=repository,
        clock=clock,
        ids=UlidGenerator(),
        rate_limiter=InMemoryRateLimiter(rate=1000, period=1.0, burst=1000),
        publisher=InProcessEventPublisher(),
    )


@pytest.fixture
async def repository(backend: tuple[str, str | None], tmp_path: Path) -> AsyncIterator[Any]:
    """An empty repository on each backend."""
    name, schema = backend
    async with open_repository(name, tmp_path=tmp_path, postgres_schema=schema) as repo:
        yield repo


def _event(upload_id: str, kind: ProviderEventKind, **fields: object) -> ProviderEvent:
    extra: dict[str, object] = {}
    if kind is ProviderEventKind.READY:
        extra = {"playback_id": f"pb-{upload_id}", "duration": 9.0}
    return ProviderEvent(
        provider=PROVIDER,
        delivery_id=f"reconcile:{upload_id}:{kind.value}",
        kind=kind,
        occurred_at=NOW,
        upload_id=upload_id,
        **(extra | fields),  # type: ignore[arg-type]
    )


async def test_one_pass_finishes_fails_and_leaves_alone(repository: MediaRepository) -> None:
    """Stale uploads are fetched and finished, expired and orphaned ones fail, the rest stay."""
    clock = FrozenClock(NOW)
    provider = CountingProvider(name=PROVIDER)
    service = service_for(repository, provider, clock)
    uploads = {
        "stale-processing": make_upload(
            "stale-processing",
            provider=PROVIDER,
            status=UploadStatus.PROCESSING,
            provider_upload_id="p1",
            upload_expires_at=NOW + timedelta(hours=1),
        ),
        "expired": make_upload(
            "expired", provider=PROVIDER, provider_upload_id="p2", upload_expires_at=NOW
        ),
        "expired-but-arrived": make_upload(
            "expired-but-arrived",
            provider=PROVIDER,
            provider_upload_id="p3",
            upload_expires_at=NOW - timedelta(minutes=1),
        ),
        "pending": make_upload("pending", provider=PROVIDER),
        "fresh": make_upload(
            "fresh",
            provider=PROVIDER,
            status=UploadStatus.PROCESSING,
            provider_upload_id="p5",
            created_at=NOW,
            updated_at=NOW,
        ),
        "young-pending": make_upload(
            "young-pending", provider=PROVIDER, created_at=NOW, updated_at=NOW
        ),
    }
    for upload in uploads.values():
        await repository.add(upload)
    provider.events += [
        _event("stale-processing", ProviderEventKind.READY),
        _event("expired-but-arrived", ProviderEventKind.PROCESSING, progress=40),
    ]
    await repository.record_delivery(DeliveryKey("mux", "ancient"), NOW - timedelta(hours=73))
    await repository.record_delivery(DeliveryKey("mux", "recent"), NOW - timedelta(hours=71))
    for key, age in (("old-key", 25), ("new-key", 23)):
        await repository.claim_idempotency_key(
            IdempotencyRecord(
                owner_id="owner-1",
                key=key,
                fingerprint="f",
                upload_id="pending",
                created_at=NOW - timedelta(hours=age),
            )
        )

    reconciler = Reconciler(service=service, settings=ReconcileSettings(batch_size=2))
    report = await reconciler.run_once()

    states = {name: await repository.get(name) for name in uploads}
    assert states["stale-processing"] is not None
    assert states["stale-processing"].status is UploadStatus.READY
    assert states["expired"] is not None
    assert states["expired"].failure_code is FailureCode.EXPIRED
    assert states["expired-but-arrived"] is not None
    assert states["expired-but-arrived"].status is UploadStatus.PROCESSING
    assert states["expired-but-arrived"].progress == 40
    assert states["pending"] is not None
    assert states["pending"].failure_code is FailureCode.PROVIDER_ERROR
    for untouched in ("fresh", "young-pending"):
        assert states[untouched] == uploads[untouched]
    assert set(provider.fetched) == {"stale-processing", "expired", "expired-but-arrived"}
    assert report.claimed == 4
    assert (report.fetched, report.applied, report.expired, report.abandoned) == (3, 2, 1, 1)
    assert (report.errors, report.deliveries_pruned, report.idempotency_keys_pruned) == (0, 1, 1)
    assert await repository.has_delivery(DeliveryKey("mux", "recent"))
    assert await repository.get_idempotency_key("owner-1", "new-key") is not None

    again = await reconciler.run_once()
    assert again.claimed == 0, "nothing is stale any more"
    assert sum(provider.fetched.values()) == 3


async def test_a_provider_failure_leaves_the_upload_for_a_later_pass(
    repository: MediaRepository,
) -> None:
    """The provider fails: the pass reports an error, and after the lease it is tried again."""
    clock = FrozenClock(NOW)
    provider = CountingProvider(name=PROVIDER)
    service = service_for(repository, provider, clock)
    upload = make_upload(
        "flaky", provider=PROVIDER, status=UploadStatus.PROCESSING, provider_upload_id="p1"
    )
    await repository.add(upload)
    settings = ReconcileSettings(lease=timedelta(minutes=5))
    reconciler = Reconciler(service=service, settings=settings)

    provider.fetch_error = ProviderUnavailable("mux get_asset: HTTP 503")
    first = await reconciler.run_once()
    assert (first.claimed, first.errors) == (1, 1)
    assert await repository.get("flaky") == upload
    assert (await reconciler.run_once()).claimed == 0, "the lease holds it back"
    clock.advance(timedelta(minutes=6))
    provider.fetch_error = None
    provider.events.append(_event("flaky", ProviderEventKind.READY))
    second = await reconciler.run_once()
    assert (second.claimed, second.applied, second.errors) == (1, 1, 0)
    stored = await repository.get("flaky")
    assert stored is not None
    assert stored.status is UploadStatus.READY


STALE_UPLOADS = 200


async def test_two_reconcilers_on_postgres_fetch_each_stale_upload_once(pg_schema: str) -> None:
    """Two instances' reconcilers at once: every stale upload is fetched exactly once."""
    url = postgres_url()
    engines = [postgres_engine(url, pg_schema, pool_size=4, max_overflow=0) for _ in range(2)]
    try:
        first, second = (sql_repository(engine) for engine in engines)
        async with open_repository("postgres", tmp_path=Path(), postgres_schema=pg_schema):
            pass  # empties the tables
        ids = [f"stale-{n:03d}" for n in range(STALE_UPLOADS)]
        for upload_id in ids:
            await first.add(
                make_upload(
                    upload_id,
                    provider=PROVIDER,
                    status=UploadStatus.PROCESSING,
                    provider_upload_id=f"p-{upload_id}",
                    updated_at=T0 + timedelta(seconds=int(upload_id[-3:])),
                )
            )
        provider = CountingProvider(name=PROVIDER)
        clock = FrozenClock(NOW)
        settings = ReconcileSettings(batch_size=15, max_batches=100)
        reconcilers = [
            Reconciler(service=service_for(repo, provider, clock), settings=settings)
            for repo in (first, second)
        ]
        reports = await asyncio.wait_for(
            asyncio.gather(*(r.run_once() for r in reconcilers)), timeout=60
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert sorted(provider.fetched) == ids
    assert set(provider.fetched.values()) == {1}, "an upload was fetched twice"
    assert sum(report.claimed for report in reports) == STALE_UPLOADS
    assert all(report.claimed > 0 for report in reports), "both instances should have worked"
    print(f"\nclaimed per instance: {[report.claimed for report in reports]}")


async def _stale_pending_upload(database: Path, upload_id: str) -> None:
    """A pending upload of the fake provider, created a day ago, in the SQLite file."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        await upgrade(engine)
        day_ago = datetime.now(UTC) - timedelta(days=1)
        await sql_repository(engine).add(
            make_upload(upload_id, created_at=day_ago, updated_at=day_ago)
        )
    finally:
        await engine.dispose()


async def _stored(database: Path, upload_id: str) -> MediaUpload | None:
    engine = create_engine(f"sqlite:///{database}")
    try:
        return await sql_repository(engine).get(upload_id)
    finally:
        await engine.dispose()


async def test_the_reconcile_command_runs_one_pass(tmp_path: Path) -> None:
    """``media-core reconcile`` fails a pending upload and prints the pass's summary."""
    await _stale_pending_upload(tmp_path / "media.db", "orphan-1")
    env = {
        "MEDIA_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'media.db'}",
        "MEDIA_PROVIDER": "fake",
    }
    out = await asyncio.to_thread(run_cli, ["reconcile"], env)
    assert "claimed 1" in out
    assert "abandoned 1" in out
    stored = await _stored(tmp_path / "media.db", "orphan-1")
    assert stored is not None
    assert stored.failure_code is FailureCode.PROVIDER_ERROR


async def test_the_service_runs_the_reconciler_in_the_background(tmp_path: Path) -> None:
    """With RECONCILE_INTERVAL_SECONDS set, ``serve`` reconciles on its own, and stops cleanly."""
    settings = service_settings(tmp_path, reconcile_interval_seconds=0.1)
    await _stale_pending_upload(tmp_path / "media.db", "orphan-2")
    async with running_service(settings) as service:
        repository = await resolve(service.container.repository)
        for _ in range(100):
            stored = await repository.get("orphan-2")
            if stored is not None and stored.is_terminal:
                break
            await asyncio.sleep(0.05)
        assert stored is not None
        assert stored.failure_code is FailureCode.PROVIDER_ERROR
        metrics = await resolve(service.container.metrics)
        for _ in range(100):
            fixed = metrics.registry.get_sample_value(
                "media_reconciler_fixes_total", {"change": "abandoned"}
            )
            if fixed:
                break
            await asyncio.sleep(0.05)
        assert fixed == 1.0
        assert metrics.registry.get_sample_value("media_reconciler_runs_total", {"outcome": "ok"})
