"""``/healthz`` and ``/readyz``: alive always, ready only when every dependency answers."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
from dependency_injector import providers

from adapters.providers._breaker import CircuitBreaker
from entrypoints.container import build_container
from tests.conftest import need
from tests.integration.test_metrics import parse
from tests.support.prism import free_port
from tests.support.repositories import postgres_url
from tests.support.service import assert_matches_openapi, running_service, service_settings


async def test_ready_on_the_embedded_default(tmp_path: Path) -> None:
    """SQLite answers: 200 with database and provider checks, no Redis check (none configured)."""
    async with running_service(service_settings(tmp_path)) as service:
        alive = await service.client.get("/healthz")
        ready = await service.client.get("/readyz")
    assert alive.status_code == 200
    assert_matches_openapi("GET", "/healthz", alive)
    assert ready.status_code == 200
    assert_matches_openapi("GET", "/readyz", ready)
    body = ready.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "providers"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["providers"]["providers"] == {
        "fake": {"accepting": True, "state": "closed"}
    }


async def test_database_down_is_not_ready(tmp_path: Path) -> None:
    """A PostgreSQL nobody listens for: /readyz answers a 503 problem naming the database."""
    # The runner migrates only what its own settings name; the app gets the dead database.
    dead = service_settings(
        tmp_path, database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none"
    )
    runner_settings = attrs.evolve(dead, database_url="memory://")
    async with running_service(runner_settings, build_container(dead)) as service:
        alive = await service.client.get("/healthz")
        ready = await service.client.get("/readyz")
    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.headers["content-type"].startswith("application/problem+json")
    assert_matches_openapi("GET", "/readyz", ready)
    problem = ready.json()
    assert problem["type"] == "/problems/not-ready"
    assert problem["checks"]["database"] == {
        "status": "down",
        "error": "repository-unavailable",
        "seconds": problem["checks"]["database"]["seconds"],
    }
    assert "127.0.0.1" not in ready.text  # no connection details for whoever asks


async def test_ready_on_postgresql(tmp_path: Path) -> None:
    """A real PostgreSQL answers the ping."""
    url = postgres_url().replace("postgresql://", "postgresql+asyncpg://")
    runner_settings = service_settings(tmp_path, database_url="memory://")
    container = build_container(attrs.evolve(runner_settings, database_url=url))
    async with running_service(runner_settings, container) as service:
        ready = await service.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["status"] == "ok"


async def test_redis_down_is_not_ready_and_up_is_ready(tmp_path: Path) -> None:
    """With REDIS_URL set, /readyz pings Redis: a dead one is a 503, the test server a 200."""
    dead = service_settings(
        tmp_path / "dead", redis_url=f"redis://127.0.0.1:{free_port()}/0", database_url="memory://"
    )
    async with running_service(dead) as service:
        ready = await service.client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == "down"

    redis_url = os.environ.get("MEDIA_TEST_REDIS_URL")
    need(redis_url, "set MEDIA_TEST_REDIS_URL to a Redis server to run this test")
    live = service_settings(tmp_path / "live", redis_url=redis_url, database_url="memory://")
    async with running_service(live) as service:
        ready = await service.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["redis"]["status"] == "ok"


async def test_open_provider_circuit_is_not_ready(tmp_path: Path) -> None:
    """With its only provider's circuit OPEN, /readyz is 503 until it closes again."""
    breaker = CircuitBreaker(provider="fake", failure_threshold=1, reset_timeout=60.0)
    settings = service_settings(tmp_path, database_url="memory://", metrics_mode="open")
    container = build_container(settings)
    container.provider_breakers.override(providers.Object({"fake": breaker}))
    async with running_service(settings, container) as service:
        closed = await service.client.get("/readyz")
        breaker.record_failure()
        opened = await service.client.get("/readyz")
        scraped = parse((await service.client.get("/metrics")).text)
    assert closed.status_code == 200
    assert closed.json()["checks"]["providers"]["providers"] == {
        "fake": {"accepting": True, "state": "closed", "retryAfter": 0.0}
    }
    assert opened.status_code == 503
    down = opened.json()["checks"]["providers"]
    assert (down["status"], down["error"], down["default"]) == (
        "down",
        "NoProviderAccepting",
        "fake",
    )
    assert down["providers"]["fake"]["state"] == "open"
    assert down["providers"]["fake"]["retryAfter"] > 0
    assert_matches_openapi("GET", "/readyz", opened)
    assert scraped.get("media_provider_circuit_state", provider="fake", state="open") == 1
    assert scraped.get("media_provider_circuit_state", provider="fake", state="closed") == 0
    assert scraped.get("media_provider_circuit_opened", provider="fake") == 1
