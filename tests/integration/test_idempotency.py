"""``Idempotency-Key`` on the create route, through the real HTTP service, on every store.

A retried request gets the first one's upload and body back, even when the copies arrive at
the same moment; a different request under the same key is a 409; keys are per user; a request
that failed frees its key for the retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from entrypoints.container import build_container
from media_core.errors import ProviderUnavailable
from tests.support.fakes import ScriptedVideoProvider
from tests.support.processes import fresh_postgres_database
from tests.support.service import (
    RunningService,
    assert_matches_openapi,
    running_service,
    service_settings,
)

BODY: dict[str, Any] = {
    "fileName": "clip.mp4",
    "fileSize": 2048,
    "mimeType": "video/mp4",
    "metadata": {"title": "A clip", "description": "", "visibility": "PUBLIC"},
}
CREATE = "/api/v1/media/upload/direct"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunningService]:
    """The service on each store (PostgreSQL: a database of its own)."""
    if request.param == "postgres":
        async with (
            fresh_postgres_database() as url,
            running_service(service_settings(tmp_path, database_url=url)) as running,
        ):
            yield running
        return
    database_url = "memory://" if request.param == "memory" else None
    async with running_service(service_settings(tmp_path, database_url=database_url)) as running:
        yield running


async def create(
    service: RunningService, key: str | None, *, user: str = "alice", **changes: Any
) -> httpx.Response:
    """POST a create request with ``key`` as its Idempotency-Key."""
    headers = service.auth(user)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await service.client.post(CREATE, json={**BODY, **changes}, headers=headers)


async def uploads_of(service: RunningService, user: str = "alice") -> list[dict[str, Any]]:
    """The user's uploads, from the list route."""
    response = await service.client.get("/api/v1/media", headers=service.auth(user))
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_retry_gets_the_same_upload_and_body(service: RunningService) -> None:
    """The same request under the same key answers 201 with the first body, marked replayed."""
    first = await create(service, "key-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    second = await create(service, "key-1")
    assert second.status_code == 201
    assert_matches_openapi("POST", CREATE, second)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert [item["id"] for item in await uploads_of(service)] == [first.json()["id"]]
    other = await create(service, "key-2")
    assert other.json()["id"] != first.json()["id"]


async def test_concurrent_copies_create_one_upload(service: RunningService) -> None:
    """Twenty copies of one request at the same moment: one upload, twenty equal answers."""
    responses = await asyncio.gather(*(create(service, "same-moment") for _ in range(20)))
    assert {response.status_code for response in responses} == {201}
    bodies = [response.json() for response in responses]
    assert all(body == bodies[0] for body in bodies)
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert [item["id"] for item in await uploads_of(service)] == [bodies[0]["id"]]


async def test_a_different_request_under_a_used_key_is_a_conflict(
    service: RunningService,
) -> None:
    """Same key, different body: 409 ``idempotency-key-reused``, and nothing new is stored."""
    assert (await create(service, "key-x")).status_code == 201
    reused = await create(service, "key-x", fileSize=4096)
    assert reused.status_code == 409
    assert reused.headers["content-type"].startswith("application/problem+json")
    assert reused.json()["type"] == "/problems/idempotency-key-reused"
    assert_matches_openapi("POST", CREATE, reused)
    assert len(await uploads_of(service)) == 1


async def test_keys_are_per_user(service: RunningService) -> None:
    """Another user's identical request under the same key gets an upload of its own."""
    alice = await create(service, "shared-key")
    bob = await create(service, "shared-key", user="bob")
    assert alice.status_code == bob.status_code == 201
    assert alice.json()["id"] != bob.json()["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "semi;colon", 'quote"d'])
async def test_malformed_keys_are_refused(tmp_path: Path, key: str) -> None:
    """An empty, overlong or oddly charactered Idempotency-Key is a 422 naming the header."""
    async with running_service(service_settings(tmp_path, database_url="memory://")) as service:
        response = await create(service, key)
        assert response.status_code == 422
        assert_matches_openapi("POST", CREATE, response)
        assert response.json()["errors"][0]["header"] == "Idempotency-Key"
        assert await uploads_of(service) == []


async def test_a_failed_request_frees_its_key_for_the_retry(tmp_path: Path) -> None:
    """The provider fails the first try (503, record FAILED); the retry creates the upload."""
    settings = service_settings(tmp_path)
    container = build_container(settings)
    provider = ScriptedVideoProvider(name="fake", create_error=ProviderUnavailable("down"))
    container.embedded_provider.override(providers.Object(provider))
    async with running_service(settings, container) as service:
        failed = await create(service, "retry-me")
        assert failed.status_code == 503
        provider.create_error = None
        retried = await create(service, "retry-me")
        assert retried.status_code == 201
        assert "Idempotent-Replayed" not in retried.headers
        again = await create(service, "retry-me")
        assert again.json() == retried.json()
        statuses = sorted(item["status"] for item in await uploads_of(service))
        assert statuses == ["failed", "uploading"]
