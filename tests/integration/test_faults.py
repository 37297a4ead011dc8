"""Faults on purpose: nothing is lost, nothing is left half-done, nothing happens twice.

1. The order of writes in a create, with the store failing on cue at every step (PostgreSQL):
   whatever fails, every provider slot ends attached to a live record or cancelled (or, when
   even the cancel fails, never handed out), and every record ends live or FAILED once the
   reconciler has passed.
2. The real Mux adapter, wired through the container, over a provider API that fails 30 % of
   the calls (timeouts, 5xx, 429, dropped connections; seeded): every create answers 201 or a
   502/503 problem, and after reconcile passes every record is final, one per request.
3. The circuit breaker: a provider that is down is not called again until the breaker probes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from adapters.providers._breaker import CircuitState
from adapters.publisher import InProcessEventPublisher
from adapters.rate_limit import InMemoryRateLimiter
from adapters.system import UlidGenerator
from entrypoints.container import build_container, resolve
from entrypoints.settings import MuxSettings
from media_core.errors import ProviderUnavailable, RepositoryUnavailable
from media_core.model import FailureCode, MediaUpload, UploadStatus, Visibility
from media_core.ports import MediaRepository
from media_core.providers import ProviderSet
from media_core.reconcile import Reconciler, ReconcileSettings
from media_core.services import MediaService, RequestUpload
from tests.support.fakes import FrozenClock, ScriptedVideoProvider
from tests.support.faults import (
    LOST_ANSWER_KINDS,
    FakeMuxApi,
    FaultyRepository,
    FaultyTransport,
)
from tests.support.processes import fresh_postgres_database
from tests.support.repositories import (
    T0,
    open_repository,
)
from tests.support.service import RunningService, running_service, service_settings

COMMAND = RequestUpload(
    file_name="clip.mp4", file_size=2048, mime_type="video/mp4", visibility=Visibility.PUBLIC
)


@pytest.fixture
async def store(pg_schema: str, tmp_path: Path) -> AsyncIterator[MediaRepository]:
    """An empty SQL repository on PostgreSQL."""
    async with open_repository("postgres", tmp_path=tmp_path, postgres_schema=pg_schema) as repo:
        yield repo


def _service(repository: Any, provider: ScriptedVideoProvider, clock: FrozenClock) -> MediaService:
    return MediaService(
        providers=ProviderSet.of(provider),
        repository=repository,
        clock=clock,
        ids=UlidGenerator(),
        rate_limiter=InMemoryRateLimiter(rate=1000, period=1.0, burst=1000),
        publisher=InProcessEventPublisher(),
    )


async def _after_reconcile(service: MediaService, clock: FrozenClock) -> None:
    """Ten minutes later (past ``pending_after``), one reconciler pass."""
    clock.advance(timedelta(minutes=10))
    await Reconciler(service=service).run_once()


# Each case: which store methods fail (and how often), whether the provider's create and cancel
# fail, and where the record must end up.
CASES: dict[str, dict[str, Any]] = {
    "store-down-before-provider": {"fail": {"add": 1}, "provider_called": False},
    "provider-fails": {"create_error": True, "final": FailureCode.PROVIDER_ERROR},
    "provider-fails-then-store-down": {
        "create_error": True,
        "fail": {"update": 5},
        "final": FailureCode.PROVIDER_ERROR,
        "reconciler_needed": True,
    },
    "slot-not-recorded": {"fail": {"update": 1}, "final": FailureCode.CANCELLED, "cancel": True},
    "slot-not-recorded-and-cancel-fails": {
        "fail": {"update": 1},
        "cancel_error": True,
        "final": FailureCode.CANCELLED,
        "cancel": True,
    },
    "slot-not-recorded-and-store-stays-down": {
        "fail": {"update": 5},
        "final": FailureCode.PROVIDER_ERROR,
        "cancel": True,
        "reconciler_needed": True,
    },
    "idempotency-key-not-completed": {
        "fail": {"complete_idempotency_key": 1},
        "final": FailureCode.CANCELLED,
        "cancel": True,
        "key": "k-1",
    },
}


@pytest.mark.parametrize("case", list(CASES))
async def test_no_create_leaves_anything_half_done(store: MediaRepository, case: str) -> None:
    """Fail the store or the provider at each step of a create; nothing is left half-done."""
    spec = CASES[case]
    clock = FrozenClock(T0)
    provider = ScriptedVideoProvider(name="scripted")
    if spec.get("create_error"):
        provider.create_error = ProviderUnavailable("injected: provider down")
    if spec.get("cancel_error"):
        provider.cancel_error = ProviderUnavailable("injected: cancel failed")
    repository = FaultyRepository(store)
    for method, times in spec.get("fail", {}).items():
        repository.fail_next(method, times=times)
    service = _service(repository, provider, clock)

    with pytest.raises((ProviderUnavailable, RepositoryUnavailable)):
        await service.request_upload("alice", COMMAND, idempotency_key=spec.get("key"))

    if not spec.get("provider_called", True):
        assert provider.created == []
        assert (await store.list_for_owner("alice", limit=10, cursor=None)).items == ()
        return
    (request,) = provider.created
    stored = await store.get(request.upload_id)
    assert stored is not None, "the record was lost"
    assert provider.cancelled == ([request.upload_id] if spec.get("cancel") else [])
    if spec.get("reconciler_needed"):
        assert stored.status is UploadStatus.UPLOADING
        assert stored.provider_upload_id is None
        repository.pending.clear()  # the store is back
        await _after_reconcile(service, clock)
        stored = await store.get(request.upload_id)
        assert stored is not None
    assert stored.status is UploadStatus.FAILED
    assert stored.failure_code is spec["final"]
    if spec.get("key"):
        assert await store.get_idempotency_key("alice", spec["key"]) is None, "key not freed"
        retry = await service.request_upload("alice", COMMAND, idempotency_key=spec["key"])
        assert retry.upload.id != request.upload_id
        assert retry.upload.status is UploadStatus.UPLOADING


# -- 30 % of provider calls fail ----------------------------------------------------------------

CREATES = 120
USERS = 10
FAULT_RATE = 0.3
SEED = 20260601


def mux_settings(tmp_path: Path, database_url: str, **changes: Any) -> Any:
    """Service settings for the Mux provider on ``database_url``, no background reconciler."""
    return service_settings(
        tmp_path,
        provider="mux",
        mux=MuxSettings(token_id="id", token_secret="secret", webhook_secrets=("whsec",)),
        jwt_secret="j" * 40,
        database_url=database_url,
        reconcile_interval_seconds=0,
        **changes,
    )


async def _all_records(service: RunningService) -> list[MediaUpload]:
    repository = await resolve(service.container.repository)
    records: list[MediaUpload] = []
    for user in range(USERS):
        page = await repository.list_for_owner(f"user-{user}", limit=100, cursor=None)
        assert page.next_cursor is None
        records.extend(page.items)
    return records


async def test_creates_under_provider_faults_end_final_and_accounted_for(tmp_path: Path) -> None:
    """30 % provider faults: 201 or a 502/503 problem; after reconciling, one final record each."""
    api = FakeMuxApi()
    transport = FaultyTransport(api.handle, rate=FAULT_RATE, seed=SEED)
    async with fresh_postgres_database() as url:
        settings = mux_settings(
            tmp_path, url, provider_breaker_failures=8, provider_breaker_reset_seconds=1.0
        )
        container = build_container(settings)
        container.provider_transport.override(providers.Object(transport))
        async with running_service(settings, container) as service:
            gate = asyncio.Semaphore(10)

            async def create(n: int) -> httpx.Response:
                async with gate:
                    return await service.create(f"user-{n % USERS}")

            responses = await asyncio.wait_for(
                asyncio.gather(*(create(n) for n in range(CREATES))), timeout=120
            )
            outcomes = Counter(response.status_code for response in responses)
            created = [r.json()["id"] for r in responses if r.status_code == 201]
            for response in responses:
                if response.status_code == 201:
                    continue
                assert response.status_code in (502, 503), response.text
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.json()["type"] in (
                    "/problems/provider-unavailable",
                    "/problems/provider-rejected",
                )
            create_faults = Counter(transport.injected)

            # At the provider, the bytes of every upload we handed out arrive; half are videos.
            records = {record.id: record for record in await _all_records(service)}
            ready_ids = set()
            for n, upload_id in enumerate(created):
                provider_id = records[upload_id].provider_upload_id
                assert provider_id is not None
                api.finish(provider_id, ready=n % 2 == 0)
                if n % 2 == 0:
                    ready_ids.add(upload_id)

            reconciler = Reconciler(
                service=await resolve(service.container.service),
                settings=ReconcileSettings(
                    pending_after=timedelta(0),
                    uploading_after=timedelta(0),
                    processing_after=timedelta(0),
                    lease=timedelta(0),
                ),
            )
            passes = 0
            for passes in range(1, 21):  # noqa: B007 - reported below
                await reconciler.run_once()
                records = {record.id: record for record in await _all_records(service)}
                if all(record.is_terminal for record in records.values()):
                    break
                await asyncio.sleep(0.5)
            breaker = service.container.provider_breakers()["mux"]

    # Nothing lost, nothing double: one record per request, one provider upload per record.
    assert len(records) == CREATES
    assert outcomes[201] == len(created)
    assert all(record.is_terminal for record in records.values()), "a record is stuck"
    for upload_id, record in records.items():
        if upload_id in ready_ids:
            assert record.status is UploadStatus.READY, record
        elif upload_id in created:
            assert record.failure_code is FailureCode.INVALID_FILE, record
        else:
            assert record.failure_code is FailureCode.PROVIDER_ERROR, record
    passthroughs = Counter(api.passthrough(upload) for upload in api.uploads)
    assert max(passthroughs.values()) == 1, "a create reached the provider twice"
    # Provider uploads of failed creates were never handed out: exactly the lost answers.
    orphaned = {
        api.passthrough(upload_id)
        for upload_id in api.uploads
        if api.passthrough(upload_id) not in created
    }
    lost = {
        request for request in transport.lost_answers if request.url.path == "/video/v1/uploads"
    }
    assert len(orphaned) == len(lost)
    assert all(
        api.uploads[u]["status"] == "waiting" for u in api.uploads if api.passthrough(u) in orphaned
    )
    assert outcomes[201] > CREATES // 2
    assert sum(create_faults[kind] for kind in LOST_ANSWER_KINDS) > 0
    print(
        f"\n{CREATES} creates: {dict(outcomes)}; faults injected {dict(transport.injected)}; "
        f"{len(orphaned)} unused provider slots from lost answers; {passes} reconcile passes; "
        f"breaker opened {breaker.snapshot().opened_count if breaker else 0} times"
    )


async def test_an_open_circuit_answers_503_at_once_then_probes(tmp_path: Path) -> None:
    """A provider that is down: the breaker opens, creates fail fast, a probe closes it again."""
    api = FakeMuxApi()
    calls = Counter[str]()
    healthy = False

    def handler(request: httpx.Request) -> httpx.Response:
        calls["all"] += 1
        if not healthy:
            raise httpx.ConnectError("injected: connection refused", request=request)
        return api.handle(request)

    async with fresh_postgres_database() as url:
        settings = mux_settings(
            tmp_path, url, provider_breaker_failures=3, provider_breaker_reset_seconds=1.0
        )
        container = build_container(settings)
        container.provider_transport.override(providers.Object(httpx.MockTransport(handler)))
        async with running_service(settings, container) as service:
            breaker = service.container.provider_breakers()["mux"]
            first = await service.create("user-0")
            assert first.status_code == 503
            assert breaker.state is CircuitState.OPEN
            reached = calls["all"]
            fast = await service.create("user-0")
            assert fast.status_code == 503
            assert int(fast.headers["Retry-After"]) >= 1
            assert "circuit open" in fast.json()["detail"]
            assert calls["all"] == reached, "an open circuit must not call the provider"
            healthy = True
            await asyncio.sleep(1.1)
            assert breaker.state is CircuitState.HALF_OPEN
            probe = await service.create("user-0")
            assert probe.status_code == 201
            assert breaker.state is CircuitState.CLOSED
            assert breaker.snapshot().opened_count == 1
