"""Two real ``media-core serve`` processes over one PostgreSQL database and one Redis.

1,000 distinct signed webhook deliveries (250 uploads, each: processing, processing, processing,
then ready or failed), each sent twice, shuffled, spread over both instances at once, end in
exactly the states the state machine gives; a creation limit of N per minute admits N (±1)
across both instances together; and the webhook routes' per-address limit holds across them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio

from adapters.repositories.sql import create_engine, sql_repository
from adapters.webhooks import NormalizedWebhookVerifier
from adapters.webhooks.normalized import sign_normalized
from entrypoints.http.auth import issue_token
from media_core.model import MediaUpload
from media_core.state_machine import apply_event
from tests.conftest import need
from tests.support.prism import free_port
from tests.support.processes import ServiceProcess, fresh_postgres_database, run_cli
from tests.support.repositories import make_upload
from tests.support.service import running_service, service_settings

UPLOADS = 250
COPIES = 2
CONCURRENCY = 48
CREATE_LIMIT = 20
JWT_SECRET = "t" * 40
WEBHOOK_SECRET = "two-instances-webhook-secret"
SEED = 20260315


def redis_url() -> str:
    """The test Redis; skips (or fails under CI) without one."""
    url = os.environ.get("MEDIA_TEST_REDIS_URL")
    need(url, "MEDIA_TEST_REDIS_URL is not set (a Redis shared by the instances)")
    assert url is not None
    return url


def deliveries(uploads: list[MediaUpload], rng: random.Random) -> list[bytes]:
    """Four distinct normalized bodies per upload: three progress reports, then the end."""
    bodies = []
    for upload in uploads:
        for n in range(3):
            bodies.append(
                {
                    "eventId": f"{upload.id}-p{n}",
                    "uploadId": upload.id,
                    "status": "processing",
                    "progress": rng.randrange(0, 100),
                }
            )
        if rng.random() < 0.8:
            bodies.append(
                {
                    "eventId": f"{upload.id}-end",
                    "uploadId": upload.id,
                    "status": "ready",
                    "playbackId": f"pb-{upload.id}",
                    "duration": round(rng.uniform(1, 600), 3),
                    "thumbnailUrl": f"https://img.example/{upload.id}.jpg",
                    "progress": 100,
                }
            )
        else:
            bodies.append(
                {
                    "eventId": f"{upload.id}-end",
                    "uploadId": upload.id,
                    "status": "failed",
                    "failureCode": "invalid_file",
                    "failureReason": "not a video",
                }
            )
    return [json.dumps(body).encode() for body in bodies]


def expected_outcomes(uploads: list[MediaUpload], bodies: list[bytes]) -> dict[str, Any]:
    """What the state machine makes of each upload's deliveries, applied one by one."""
    verifier = NormalizedWebhookVerifier(secrets=(WEBHOOK_SECRET,), provider="fake")
    state = {upload.id: upload for upload in uploads}
    now = datetime.now(UTC)
    for body in bodies:
        headers = sign_normalized(WEBHOOK_SECRET, int(time.time()), body)
        event = verifier.verify(headers, body, now).event
        assert event is not None
        assert event.upload_id is not None
        state[event.upload_id] = apply_event(state[event.upload_id], event, now).upload
    return {upload_id: upload.outcome() for upload_id, upload in state.items()}


async def seed_uploads(database_url: str) -> list[MediaUpload]:
    """250 fresh UPLOADING uploads of the fake provider, written straight to the database."""
    engine = create_engine(database_url)
    try:
        repository = sql_repository(engine)
        now = datetime.now(UTC)
        uploads = [
            make_upload(
                f"two-{n:03d}-{uuid.uuid4().hex[:6]}",
                owner_id=f"owner-{n % 10}",
                provider_upload_id=f"fu-{n:03d}",
                created_at=now,
                updated_at=now,
            )
            for n in range(UPLOADS)
        ]
        for upload in uploads:
            await repository.add(upload)
        return uploads
    finally:
        await engine.dispose()


async def stored_outcomes(database_url: str, ids: list[str]) -> dict[str, Any]:
    """The stored outcome of each upload."""
    engine = create_engine(database_url)
    try:
        repository = sql_repository(engine)
        outcomes = {}
        for upload_id in ids:
            upload = await repository.get(upload_id)
            assert upload is not None
            outcomes[upload_id] = upload.outcome()
        return outcomes
    finally:
        await engine.dispose()


async def test_two_instances_converge_and_share_limits(tmp_path: Path) -> None:
    """Both instances at once: the state machine's final states, and one shared create limit."""
    redis = redis_url()
    prefix = f"media-core-test:{uuid.uuid4().hex[:8]}:"
    async with fresh_postgres_database() as database_url:
        env = {
            "MEDIA_PROVIDER": "fake",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis,
            "RATE_LIMIT_KEY_PREFIX": prefix,
            "AUTH_JWT_SECRET": JWT_SECRET,
            "MEDIA_WEBHOOK_SECRETS": WEBHOOK_SECRET,
            "RATE_LIMIT_CREATE_PER_MINUTE": str(CREATE_LIMIT),
            "RATE_LIMIT_CREATE_BURST": str(CREATE_LIMIT),
            "RATE_LIMIT_WEBHOOK_PER_MINUTE": "100000",
            "RECONCILE_INTERVAL_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
        }
        await asyncio.to_thread(run_cli, ["migrate"], env)
        uploads = await seed_uploads(database_url)
        instances = []
        try:
            for name in ("a", "b"):
                port = free_port()
                instance_env = {
                    **env,
                    "MEDIA_DATA_DIR": str(tmp_path / name),
                    "MEDIA_PUBLIC_URL": f"http://127.0.0.1:{port}",
                }
                instances.append(ServiceProcess(instance_env, port, tmp_path / f"{name}.log"))
            for instance in instances:
                await asyncio.to_thread(instance.wait_ready)
            started = time.monotonic()
            outcomes, statuses = await _deliver_everything(instances, uploads)
            webhook_seconds = time.monotonic() - started
            admitted = await _burst_of_creates(instances)
        finally:
            for instance in instances:
                await asyncio.to_thread(instance.stop)
        bodies_expected = deliveries(uploads, random.Random(SEED))
        expected = expected_outcomes(uploads, bodies_expected)
        stored = await stored_outcomes(database_url, [upload.id for upload in uploads])

    assert statuses == Counter({200: len(bodies_expected) * COPIES}), statuses
    assert outcomes["duplicate"] == len(bodies_expected) * (COPIES - 1)
    assert outcomes["applied"] + outcomes["unchanged"] == len(bodies_expected)
    mismatched = [uid for uid in expected if stored[uid] != expected[uid]]
    assert not mismatched, f"{len(mismatched)} uploads differ, e.g. {mismatched[:3]}"
    assert CREATE_LIMIT - 1 <= admitted <= CREATE_LIMIT + 1, admitted
    print(
        f"\n{len(bodies_expected) * COPIES} deliveries over two instances in "
        f"{webhook_seconds:.1f}s: {dict(outcomes)}; creates admitted {admitted}/{CREATE_LIMIT}"
    )


async def _deliver_everything(
    instances: list[ServiceProcess], uploads: list[MediaUpload]
) -> tuple[Counter[str], Counter[int]]:
    rng = random.Random(SEED)
    bodies = deliveries(uploads, rng)
    sends = [body for body in bodies for _ in range(COPIES)]
    rng.shuffle(sends)
    outcomes: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with (
        httpx.AsyncClient(base_url=instances[0].base_url, timeout=30, limits=limits) as first,
        httpx.AsyncClient(base_url=instances[1].base_url, timeout=30, limits=limits) as second,
    ):
        clients = (first, second)

        async def send(index: int, body: bytes) -> None:
            headers = sign_normalized(WEBHOOK_SECRET, int(time.time()), body)
            async with gate:
                response = await clients[index % 2].post(
                    "/api/v1/media/webhook/upload-complete", content=body, headers=headers
                )
            statuses[response.status_code] += 1
            if response.status_code == 200:
                outcomes[response.json()["outcome"]] += 1

        await asyncio.wait_for(
            asyncio.gather(*(send(i, body) for i, body in enumerate(sends))), timeout=90
        )
    return outcomes, statuses


async def _burst_of_creates(instances: list[ServiceProcess]) -> int:
    """Three times the limit of creates by one user, at once, over both instances."""
    user = f"burst-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {issue_token(JWT_SECRET, user)}"}
    body = {"fileName": "clip.mp4", "fileSize": 2048, "mimeType": "video/mp4"}
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{instances[n % 2].base_url}/api/v1/media/upload/direct",
                    json=body,
                    headers=headers,
                )
                for n in range(3 * CREATE_LIMIT)
            )
        )
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {201, 429}, statuses
    return statuses[201]


async def test_the_webhook_limit_per_address_holds_across_instances(tmp_path: Path) -> None:
    """A per-address webhook limit of 5 a minute admits 5 deliveries across two instances."""
    url = redis_url()
    prefix = f"media-core-test:{uuid.uuid4().hex[:8]}:"
    common: dict[str, Any] = {
        "redis_url": url,
        "rate_limit_key_prefix": prefix,
        "webhook_rate_per_minute": 5,
    }
    statuses: list[int] = []
    async with (
        running_service(service_settings(tmp_path / "a", **common)) as first,
        running_service(service_settings(tmp_path / "b", **common)) as second,
    ):
        for index in range(8):
            instance = first if index % 2 == 0 else second
            response = await instance.client.post(
                "/api/v1/media/webhook/upload-complete",
                content=b"{}",
                headers={"Content-Type": "application/json"},
            )
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.json()["type"] == "/problems/rate-limited"
                assert int(response.headers["Retry-After"]) >= 1
    assert statuses[:5] == [401] * 5, statuses  # admitted, then refused for the bad signature
    assert statuses[5:] == [429] * 3
    client = redis.asyncio.Redis.from_url(url)
    try:
        await client.delete(f"{prefix}webhook:webhook:127.0.0.1")
    finally:
        await client.aclose()
