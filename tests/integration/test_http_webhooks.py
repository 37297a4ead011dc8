"""The normalized webhook route: only authentic, fresh deliveries change anything, exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.webhooks import NORMALIZED_SIGNATURE_HEADER, sign_normalized
from entrypoints.wiring.secrets import webhook_secrets_for
from tests.support.service import (
    RunningService,
    assert_matches_openapi,
    running_service,
    service_settings,
)

ROUTE = "/api/v1/media/webhook/upload-complete"


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RunningService]:
    """The service on the embedded default."""
    async with running_service(service_settings(tmp_path)) as running:
        yield running


def signed(
    service: RunningService, body: dict[str, Any], *, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """``body`` serialized and signed with the service's normalized-route secret."""
    raw = json.dumps(body).encode()
    secret = webhook_secrets_for(service.settings)[0]
    return raw, sign_normalized(secret, int(time.time()) if at is None else at, raw)


async def new_upload(service: RunningService) -> dict[str, Any]:
    """A fresh upload of alice's, still UPLOADING."""
    response = await service.create()
    assert response.status_code == 201
    return dict(response.json())


async def snapshot(service: RunningService, upload_id: str) -> dict[str, Any]:
    """The stored upload as the status route shows it."""
    return dict((await service.status("alice", upload_id)).json())


def ready_body(upload_id: str, event_id: str = "evt-ready") -> dict[str, Any]:
    """A READY delivery for ``upload_id``."""
    return {
        "eventId": event_id,
        "uploadId": upload_id,
        "playbackId": "pb-1",
        "status": "ready",
        "duration": 12.5,
        "thumbnailUrl": "https://example.invalid/t.jpg",
        "metadata": {},
    }


async def test_valid_delivery_applies_and_duplicate_changes_nothing(
    service: RunningService,
) -> None:
    """A signed delivery makes the upload READY; the same delivery again is a 2xx no-op."""
    upload = await new_upload(service)
    raw, headers = signed(service, ready_body(upload["id"]))
    first = await service.client.post(ROUTE, content=raw, headers=headers)
    assert first.status_code == 200
    assert_matches_openapi("POST", "/api/v1/media/webhook/{name}", first)
    assert first.json() == {"outcome": "applied", "id": upload["id"], "status": "ready"}
    after = await snapshot(service, upload["id"])
    assert after["status"] == "ready"
    assert after["duration"] == 12.5
    assert after["playbackId"] == "pb-1"

    again = await service.client.post(ROUTE, content=raw, headers=headers)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    late = signed(service, {**ready_body(upload["id"], "evt-late"), "status": "processing"})
    response = await service.client.post(ROUTE, content=late[0], headers=late[1])
    assert response.json()["outcome"] == "unchanged"
    assert await snapshot(service, upload["id"]) == after


def _tamper(raw: bytes, headers: dict[str, str], secret: str) -> tuple[bytes, dict[str, str]]:
    return raw.replace(b"12.5", b"99.5"), headers


def _drop_header(raw: bytes, headers: dict[str, str], secret: str) -> tuple[bytes, dict[str, str]]:
    return raw, {k: v for k, v in headers.items() if k != NORMALIZED_SIGNATURE_HEADER}


def _wrong_secret(raw: bytes, headers: dict[str, str], secret: str) -> tuple[bytes, dict[str, str]]:
    return raw, sign_normalized("not-the-secret", int(time.time()), raw)


def _malformed(raw: bytes, headers: dict[str, str], secret: str) -> tuple[bytes, dict[str, str]]:
    return raw, {**headers, NORMALIZED_SIGNATURE_HEADER: "garbage"}


def _stale(raw: bytes, headers: dict[str, str], secret: str) -> tuple[bytes, dict[str, str]]:
    return raw, sign_normalized(secret, int(time.time()) - 600, raw)


def _future(raw: bytes, headers: dict[str, str], secret: str) -> tuple[bytes, dict[str, str]]:
    return raw, sign_normalized(secret, int(time.time()) + 600, raw)


@pytest.mark.parametrize(
    ("spoil", "status", "code"),
    [
        (_tamper, 401, "invalid-signature"),
        (_drop_header, 401, "invalid-signature"),
        (_wrong_secret, 401, "invalid-signature"),
        (_malformed, 401, "invalid-signature"),
        (_stale, 400, "stale-webhook"),
        (_future, 400, "stale-webhook"),
    ],
    ids=["tampered", "missing-header", "wrong-secret", "malformed-header", "stale", "future"],
)
async def test_bad_deliveries_change_nothing(
    service: RunningService, spoil: Any, status: int, code: str
) -> None:
    """Bad or missing signatures answer 401, stale ones 400, and the record is untouched."""
    upload = await new_upload(service)
    before = await snapshot(service, upload["id"])
    raw, headers = spoil(
        *signed(service, ready_body(upload["id"])), webhook_secrets_for(service.settings)[0]
    )
    response = await service.client.post(ROUTE, content=raw, headers=headers)
    assert response.status_code == status
    assert response.json()["type"] == f"/problems/{code}"
    assert_matches_openapi("POST", "/api/v1/media/webhook/{name}", response)
    assert await snapshot(service, upload["id"]) == before


@pytest.mark.parametrize(
    "body",
    [
        {"uploadId": "x", "status": "exploded"},
        {"uploadId": "x", "status": "ready"},
        {"status": "processing"},
        {"uploadId": "x", "status": "processing", "progress": 101},
        {"uploadId": "x", "status": "ready", "playbackId": "p", "duration": "long"},
        {"uploadId": "x", "status": "failed", "failureCode": "meteor"},
        ["not", "an", "object"],
    ],
    ids=[
        "status",
        "ready-no-duration",
        "no-reference",
        "progress",
        "duration-type",
        "code",
        "array",
    ],
)
async def test_signed_but_malformed_bodies(service: RunningService, body: Any) -> None:
    """An authentic delivery whose body makes no sense is a 400 malformed-webhook."""
    upload = await new_upload(service)
    before = await snapshot(service, upload["id"])
    if isinstance(body, dict) and body.get("uploadId") == "x":
        body = {**body, "uploadId": upload["id"]}
    raw, headers = signed(service, body)  # type: ignore[arg-type]
    response = await service.client.post(ROUTE, content=raw, headers=headers)
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/malformed-webhook"
    assert await snapshot(service, upload["id"]) == before


async def test_non_json_signed_body(service: RunningService) -> None:
    """A signed body that is not JSON is malformed."""
    raw = b"not json"
    secret = webhook_secrets_for(service.settings)[0]
    response = await service.client.post(
        ROUTE, content=raw, headers=sign_normalized(secret, int(time.time()), raw)
    )
    assert response.status_code == 400


async def test_unknown_upload_is_acknowledged(service: RunningService) -> None:
    """A delivery for no upload of ours is acknowledged (so it is not retried for a day)."""
    raw, headers = signed(service, ready_body("nobody"))
    response = await service.client.post(ROUTE, content=raw, headers=headers)
    assert response.status_code == 200
    assert response.json()["outcome"] == "unknown_upload"


async def test_unconfigured_provider_route(service: RunningService) -> None:
    """The route of a provider that is not configured does not exist."""
    response = await service.client.post("/api/v1/media/webhook/mux", content=b"{}")
    assert response.status_code == 404


async def test_terminal_state_is_final(service: RunningService) -> None:
    """After FAILED, a READY delivery changes nothing."""
    upload = await new_upload(service)
    failed = {"eventId": "e1", "uploadId": upload["id"], "status": "failed", "failureReason": "x"}
    raw, headers = signed(service, failed)
    assert (await service.client.post(ROUTE, content=raw, headers=headers)).status_code == 200
    before = await snapshot(service, upload["id"])
    assert before["status"] == "failed"
    raw, headers = signed(service, ready_body(upload["id"], "e2"))
    response = await service.client.post(ROUTE, content=raw, headers=headers)
    assert response.json()["outcome"] == "unchanged"
    assert await snapshot(service, upload["id"]) == before
