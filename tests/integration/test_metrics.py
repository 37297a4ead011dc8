"""``GET /metrics`` through the real service: each journey moves each metric by exactly its amount.

The exposition text is parsed with ``prometheus_client.parser``; a test takes a scrape before and
after what it drives and compares the differences, so it holds whatever ran before it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from dependency_injector import providers
from prometheus_client.parser import text_string_to_metric_families

from adapters.webhooks import NORMALIZED_SIGNATURE_HEADER, sign_normalized
from entrypoints.container import build_container
from entrypoints.settings import load_settings
from entrypoints.wiring.secrets import webhook_secrets_for
from tests.integration.test_provider_switch import environment, mux_deliveries, provider_api
from tests.support.service import (
    RunningService,
    assert_matches_openapi,
    make_video,
    running_service,
    service_settings,
)

WEBHOOK = "/api/v1/media/webhook/upload-complete"
METRICS_TOKEN = "metrics-token-0123456789abcdef"

Labels = frozenset[tuple[str, str]]


@attrs.frozen
class Scrape:
    """One parsed scrape: sample name and labels → value."""

    samples: dict[tuple[str, Labels], float]

    def get(self, name: str, **labels: str) -> float:
        """The sample's value, 0 when it is not exposed (yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def minus(self, before: Scrape) -> Callable[..., float]:
        """A function giving how much a sample moved since ``before``."""

        def delta(name: str, **labels: str) -> float:
            return self.get(name, **labels) - before.get(name, **labels)

        return delta

    def names(self) -> set[str]:
        """Every sample name."""
        return {name for name, _ in self.samples}


def parse(text: str) -> Scrape:
    """Parse the Prometheus text format."""
    samples: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(samples)


async def scrape(service: RunningService, **headers: str) -> Scrape:
    """GET /metrics and parse it."""
    response = await service.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def settled(
    service: RunningService, ready: Callable[[Scrape], bool], seconds: float = 5.0
) -> Scrape:
    """Scrape until ``ready`` holds (the fake's webhook sender records its call just after the
    service answered it) or ``seconds`` pass; the caller then asserts exact values."""
    async with asyncio.timeout(seconds):
        while True:
            current = await scrape(service)
            if ready(current):
                return current
            await asyncio.sleep(0.02)


def signed(service: RunningService, body: dict[str, Any], *, at: int | None = None) -> Any:
    """``body`` as the fake provider would sign it."""
    raw = json.dumps(body).encode()
    secret = webhook_secrets_for(service.settings)[0]
    return raw, sign_normalized(secret, int(time.time()) if at is None else at, raw)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RunningService]:
    """The embedded default with open metrics and a fresh storage snapshot on every scrape."""
    settings = service_settings(tmp_path, metrics_mode="open", metrics_storage_ttl_seconds=0.0)
    async with running_service(settings) as running:
        yield running


@pytest.fixture(scope="module")
def video() -> bytes:
    """A real one-second MP4."""
    return make_video(seconds=1.0)


async def test_a_ready_journey_moves_each_metric_once(
    service: RunningService, video: bytes
) -> None:
    """create → PUT → processing → ready: created, finished{ready}, histograms, storage, HTTP."""
    before = await scrape(service)
    created = (await service.create(fileSize=len(video))).json()
    await service.client.put(created["uploadUrl"], content=video)
    await service.wait_for("alice", created["id"], {"ready"})
    sender = {"provider": "fake", "operation": "webhook", "outcome": "ok"}
    after = await settled(
        service,
        lambda now: (
            now.get("media_provider_requests_total", **sender)
            >= before.get("media_provider_requests_total", **sender) + 3
        ),
    )
    delta = after.minus(before)

    assert delta("media_uploads_created_total", provider="fake") == 1
    assert delta("media_uploads_finished_total", provider="fake", status="ready") == 1
    assert delta("media_uploads_finished_total", provider="fake", status="failed") == 0
    assert delta("media_upload_ready_seconds_count", provider="fake") == 1
    assert delta("media_upload_processing_seconds_count", provider="fake") == 1
    assert delta("media_upload_transfer_seconds_count", provider="fake") == 1
    # A fast local journey lands in the first bucket; the hour buckets exist for real videos.
    assert delta("media_upload_ready_seconds_bucket", provider="fake", le="1.0") == 1
    assert after.get("media_upload_ready_seconds_bucket", provider="fake", le="86400.0") == 1
    assert after.get("media_videos", provider="fake", status="ready") == 1
    assert after.get("media_storage_bytes", provider="fake", status="ready") == len(video)
    assert after.get("media_videos", provider="fake", status="uploading") == 0
    # The fake's three signed webhooks (processing 0, processing 50, ready), each sent through
    # HttpPolicy (a provider call) and each applied.
    assert delta("media_webhook_deliveries_total", provider="fake", outcome="applied") == 3
    assert delta("media_provider_requests_total", **sender) == 3
    assert (
        delta(
            "media_http_requests_total",
            route="/api/v1/media/upload/direct",
            method="POST",
            status="201",
        )
        == 1
    )
    assert (
        delta(
            "media_http_requests_total",
            route="/api/v1/media/fake/uploads/{token}",
            method="PUT",
            status="200",
        )
        == 1
    )
    assert (
        delta(
            "media_http_request_seconds_count", route="/api/v1/media/upload/direct", method="POST"
        )
        == 1
    )
    assert delta("media_errors_reported_total", where="request") == 0


async def test_failures_count_by_code_and_never_as_success(
    service: RunningService, video: bytes
) -> None:
    """A size mismatch and a cancel each add one failed upload, by failure code."""
    before = await scrape(service)
    short = (await service.create(fileSize=len(video) + 10)).json()
    await service.client.put(short["uploadUrl"], content=video)
    await service.wait_for("alice", short["id"], {"failed"})
    cancelled = (await service.create()).json()
    response = await service.client.post(
        f"/api/v1/media/{cancelled['id']}/cancel", headers=service.auth("alice")
    )
    assert response.status_code == 200
    after = await scrape(service)
    delta = after.minus(before)

    assert delta("media_uploads_created_total", provider="fake") == 2
    assert delta("media_uploads_finished_total", provider="fake", status="failed") == 2
    assert delta("media_uploads_finished_total", provider="fake", status="ready") == 0
    assert delta("media_upload_failures_total", provider="fake", code="size_mismatch") == 1
    assert delta("media_upload_failures_total", provider="fake", code="cancelled") == 1
    assert delta("media_upload_ready_seconds_count", provider="fake") == 0
    assert after.get("media_videos", provider="fake", status="failed") == 2
    assert (
        after.get("media_storage_bytes", provider="fake", status="failed") == len(video) + 10 + 2048
    )


async def test_webhook_outcomes_are_counted_one_by_one(service: RunningService) -> None:
    """applied, duplicate, unchanged, unknown_upload, bad_signature, stale, malformed: one each."""
    upload = (await service.create()).json()
    processing = {"eventId": "evt-p", "uploadId": upload["id"], "status": "processing"}
    before = await scrape(service)

    async def post(raw: bytes, headers: dict[str, str]) -> int:
        response = await service.client.post(WEBHOOK, content=raw, headers=headers)
        return response.status_code

    raw, headers = signed(service, processing)
    assert await post(raw, headers) == 200  # applied
    assert await post(raw, headers) == 200  # duplicate
    late = {"eventId": "evt-p-late", "uploadId": upload["id"], "status": "processing"}
    assert await post(*signed(service, late)) == 200  # unchanged
    stranger = {"eventId": "evt-x", "uploadId": "no-such-upload", "status": "processing"}
    assert await post(*signed(service, stranger)) == 200  # unknown_upload
    forged = {NORMALIZED_SIGNATURE_HEADER: "t=1,v1=" + "0" * 64}
    assert await post(raw, forged) == 401  # bad_signature
    assert await post(*signed(service, processing, at=int(time.time()) - 3600)) == 400  # stale
    assert await post(*signed(service, {"status": "ready"})) == 400  # malformed
    delta = (await scrape(service)).minus(before)

    for outcome in ("applied", "duplicate", "unchanged", "unknown_upload"):
        assert delta("media_webhook_deliveries_total", provider="fake", outcome=outcome) == 1, (
            outcome
        )
    for outcome in ("bad_signature", "stale", "malformed"):
        assert delta("media_webhook_deliveries_total", provider="fake", outcome=outcome) == 1, (
            outcome
        )
    assert (
        delta(
            "media_http_requests_total",
            route="/api/v1/media/webhook/{name}",
            method="POST",
            status="401",
        )
        == 1
    )


async def test_rate_limit_rejections_and_deletions(tmp_path: Path) -> None:
    """Each 429 counts once under its route; a delete counts once."""
    settings = service_settings(
        tmp_path,
        metrics_mode="open",
        create_rate_per_minute=1,
        create_rate_burst=2,
        metrics_storage_ttl_seconds=0.0,
    )
    async with running_service(settings) as service:
        before = await scrape(service)
        statuses = [(await service.create()).status_code for _ in range(4)]
        assert statuses == [201, 201, 429, 429]
        first = (await service.client.get("/api/v1/media", headers=service.auth("alice"))).json()
        deleted = await service.client.delete(
            f"/api/v1/media/{first['items'][0]['id']}", headers=service.auth("alice")
        )
        assert deleted.status_code == 204
        after = await scrape(service)
    delta = after.minus(before)
    assert delta("media_rate_limited_total", route="/api/v1/media/upload/direct") == 2
    assert delta("media_uploads_created_total", provider="fake") == 2
    assert delta("media_uploads_deleted_total", provider="fake") == 1
    assert after.get("media_videos", provider="fake", status="uploading") == 1


async def test_provider_api_calls_and_mux_journey(tmp_path: Path) -> None:
    """Mux: a throttled then accepted create counts per outcome; a refused create fails it."""
    calls: list[int] = []

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/video/v1/uploads":
            calls.append(1)
            if len(calls) == 1:
                return httpx.Response(429, headers={"Retry-After": "0"})
            if len(calls) == 3:
                return httpx.Response(400, json={"error": {"messages": ["bad"]}})
        return provider_api(request)

    settings = attrs.evolve(
        load_settings(environment("mux", tmp_path)),
        metrics_mode="open",
        metrics_storage_ttl_seconds=0.0,
    )
    container = build_container(settings)
    container.provider_transport.override(providers.Object(httpx.MockTransport(api)))
    async with running_service(settings, container) as service:
        before = await scrape(service)
        created = await service.create()
        assert created.status_code == 201, created.text
        for route, raw, headers in mux_deliveries(created.json()["id"]):
            response = await service.client.post(
                f"/api/v1/media/webhook/{route}", content=raw, headers=headers
            )
            assert response.status_code == 200
        refused = await service.create(fileName="other.mp4")
        assert refused.status_code == 502
        delta = (await scrape(service)).minus(before)

    op = {"provider": "mux", "operation": "create_upload"}
    assert delta("media_provider_requests_total", **op, outcome="throttled") == 1
    assert delta("media_provider_requests_total", **op, outcome="ok") == 1
    assert delta("media_provider_requests_total", **op, outcome="rejected") == 1
    assert delta("media_provider_request_seconds_count", **op) == 3
    assert delta("media_uploads_created_total", provider="mux") == 1
    assert delta("media_uploads_finished_total", provider="mux", status="ready") == 1
    assert delta("media_uploads_finished_total", provider="mux", status="failed") == 1
    assert delta("media_upload_failures_total", provider="mux", code="provider_error") == 1
    assert delta("media_webhook_deliveries_total", provider="mux", outcome="applied") == 2
    assert delta("media_upload_processing_seconds_count", provider="mux") == 1


async def test_metrics_are_guarded_by_their_mode(tmp_path: Path) -> None:
    """off: no route; token: 401 without or with a wrong token, 200 with the right one."""
    async with running_service(service_settings(tmp_path / "off", metrics_mode="off")) as off:
        assert (await off.client.get("/metrics")).status_code == 404
    settings = service_settings(
        tmp_path / "token", metrics_mode="token", metrics_token=METRICS_TOKEN
    )
    async with running_service(settings) as guarded:
        missing = await guarded.client.get("/metrics")
        assert missing.status_code == 401
        assert_matches_openapi("GET", "/metrics", missing)
        user_token = await guarded.client.get("/metrics", headers=guarded.auth("alice"))
        assert user_token.status_code == 401
        for raw in (b"Bearer \xff\xfe", "Bearer é".encode(), b"Bearer \xed\xa0\x80"):
            odd = await guarded.client.get("/metrics", headers=[(b"Authorization", raw)])
            assert odd.status_code == 401, raw  # bytes that are not UTF-8 answered 500
        scraped = await scrape(guarded, Authorization=f"Bearer {METRICS_TOKEN}")
        assert "media_http_requests_total" in scraped.names()


async def test_two_services_in_one_process_keep_separate_counts(tmp_path: Path) -> None:
    """Each container has its own registry: one service's uploads do not show in the other's."""
    first_settings = service_settings(tmp_path / "a", metrics_mode="open")
    second_settings = service_settings(tmp_path / "b", metrics_mode="open")
    async with running_service(first_settings) as first, running_service(second_settings) as second:
        assert (await first.create()).status_code == 201
        assert (await scrape(first)).get("media_uploads_created_total", provider="fake") == 1
        assert (await scrape(second)).get("media_uploads_created_total", provider="fake") == 0


async def test_no_label_carries_a_user_or_file_name(service: RunningService) -> None:
    """Label values are bounded: the user id, upload id and file name appear nowhere."""
    created = (await service.create("user-with-a-name", fileName="secret-holiday.mp4")).json()
    text = (await service.client.get("/metrics")).text
    for value in ("user-with-a-name", "secret-holiday", created["id"]):
        assert value not in text
