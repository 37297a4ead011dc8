"""Logs of the real service: one JSON line per request with its request id, and no secrets."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.webhooks import NORMALIZED_SIGNATURE_HEADER, sign_normalized
from entrypoints.container import build_container
from entrypoints.observability import REDACTED, build_handler
from entrypoints.wiring.secrets import secrets_to_redact, webhook_secrets_for
from media_core.events import DomainEvent, UploadReady
from tests.support.service import make_video, running_service, service_settings

ACCESS_LOGGER = "entrypoints.http.access"


class Captured:
    """Everything the root logger's JSON handler wrote."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        """The raw output."""
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Each line, parsed (every line must be one JSON object)."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def access(self) -> list[dict[str, Any]]:
        """The access log lines."""
        return [line for line in self.lines() if line["logger"] == ACCESS_LOGGER]


@pytest.fixture
def captured(tmp_path: Path) -> Iterator[Captured]:
    """A JSON handler on the root logger at DEBUG, hiding the settings' secrets, as serve does."""
    capture = Captured()
    settings = service_settings(tmp_path)
    handler = build_handler(capture.stream, log_format="json", secrets=secrets_to_redact(settings))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_each_request_logs_one_line_with_its_request_id(
    tmp_path: Path, captured: Captured
) -> None:
    """The id sent in X-Request-ID is echoed and logged; a missing or bad one is replaced."""
    async with running_service(service_settings(tmp_path)) as service:
        given = await service.client.get("/healthz", headers={"X-Request-ID": "req-42"})
        made_up = await service.client.get("/healthz")
        hostile = await service.client.get("/healthz", headers={"X-Request-ID": "<b>" + "x" * 300})
        created = await service.client.post(
            "/api/v1/media/upload/direct",
            json={"fileName": "a.mp4", "fileSize": 10, "mimeType": "video/mp4"},
            headers={**service.auth("alice"), "X-Request-ID": "create-1"},
        )
        missing = await service.client.get("/no/such/path", headers={"X-Request-ID": "nf-1"})
    assert given.headers["X-Request-ID"] == "req-42"
    assert len(made_up.headers["X-Request-ID"]) == 32
    assert len(hostile.headers["X-Request-ID"]) == 32  # a new one replaced the odd value
    assert created.status_code == 201
    assert missing.status_code == 404
    assert missing.headers["X-Request-ID"] == "nf-1"

    access = captured.access()
    ids = [line["request_id"] for line in access]
    expected = [
        "req-42",
        made_up.headers["X-Request-ID"],
        hostile.headers["X-Request-ID"],
        "create-1",
        "nf-1",
    ]
    assert ids == expected
    assert [line["route"] for line in access] == [
        "/healthz",
        "/healthz",
        "/healthz",
        "/api/v1/media/upload/direct",
        "unmatched",
    ]
    assert [line["status"] for line in access] == [200, 200, 200, 201, 404]
    assert all(line["seconds"] >= 0 for line in access)
    # The core's own line about the create carries the same id.
    core = [line for line in captured.lines() if line["message"] == "upload requested"]
    assert [line["request_id"] for line in core] == ["create-1"]
    assert core[0]["upload_id"] == created.json()["id"]
    assert core[0]["provider"] == "fake"


async def test_secrets_tokens_and_signatures_never_reach_the_logs(
    tmp_path: Path, captured: Captured
) -> None:
    """A webhook secret, a bearer token and signatures stay out of every line, even a traceback.

    The journey includes what would leak without the filter: a subscriber whose exception text
    holds both secrets (reported with its traceback), signed-URL query tokens in the client's
    request logs, and signature headers on webhooks.
    """
    settings = service_settings(tmp_path)
    container = build_container(settings)
    secret = webhook_secrets_for(settings)[0]
    video = make_video(seconds=1.0)
    async with running_service(settings, container) as service:
        bearer = service.token("alice")

        async def careless(event: DomainEvent) -> None:
            raise RuntimeError(f"cannot sync with Authorization: Bearer {bearer} / {secret}")

        container.publisher().subscribe(careless, UploadReady)  # type: ignore[attr-defined]
        created = (
            await service.create(
                fileSize=len(video), metadata={"title": "x", "visibility": "PRIVATE"}
            )
        ).json()
        await service.client.put(created["uploadUrl"], content=video)
        await service.wait_for("alice", created["id"], {"ready"})
        playback = (
            await service.client.get(
                f"/api/v1/media/{created['id']}/playback", headers=service.auth("alice")
            )
        ).json()
        assert (await service.client.get(playback["url"])).status_code == 200
        raw = json.dumps({"eventId": "e", "uploadId": created["id"], "status": "processing"})
        signature = sign_normalized(secret, int(time.time()), raw.encode())
        await service.client.post(
            "/api/v1/media/webhook/upload-complete", content=raw, headers=signature
        )
        await service.client.post(
            "/api/v1/media/webhook/upload-complete?token=abc123456789",
            content=raw,
            headers={"Media-Core-Signature": "t=1,v1=" + "ab" * 32},
        )
    text = captured.text
    reported = [line for line in captured.lines() if line["message"].startswith("unexpected")]
    assert len(reported) == 1, "the careless subscriber's error was reported once"
    assert REDACTED in reported[0]["exception"]
    assert reported[0]["context"]["event"] == "upload.ready"
    for value in (
        bearer,
        secret,
        playback["token"],
        signature[NORMALIZED_SIGNATURE_HEADER],
        "ab" * 32,
    ):
        assert value not in text
    assert "abc123456789" not in text
