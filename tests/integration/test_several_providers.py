"""Several providers in one service: each upload served by its own provider, for life.

- Two providers at once (the fake and Mux against Prism, which validates every request Mux
  gets): uploads on each, each webhook route moving only its own uploads, cancel, delete,
  playback and reconciliation reaching the adapter of the upload's provider, never the other.
- The default changed between two runs over one database: the old uploads are still served,
  reconciled and deleted through their own provider.
- Failover: while Mux fails (connect timeouts, refused connections, 5xx) new uploads go to the
  fake with no orphan at either; a lost answer is not failed over; once Mux's breaker probe
  succeeds, new uploads go back to it.
- A provider removed from the configuration: its uploads stay readable, cancel and delete answer
  ``provider-not-configured``, and the reconciler leaves them alone and counts them.

Every scenario runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from adapters.providers._breaker import CircuitState
from adapters.webhooks import SignatureScheme, sign_normalized
from entrypoints.container import build_container, resolve
from entrypoints.settings import MuxSettings, Settings
from entrypoints.wiring.secrets import webhook_secrets_for
from media_core.ports import NewUploadChoice, ProviderCandidate
from media_core.reconcile import Reconciler, ReconcileSettings
from tests.conftest import need
from tests.integration.test_metrics import parse
from tests.support.faults import FakeMuxApi, FaultyTransport
from tests.support.prism import prism_binary, run_prism, specs_dir
from tests.support.processes import fresh_postgres_database
from tests.support.repositories import postgres_url
from tests.support.service import RunningService, running_service, service_settings

MUX_SECRET = "mux-webhook-secret"
MUX_SCHEME = SignatureScheme(header="Mux-Signature", timestamp_key="t", signature_key="v1")
PRISM_UPLOAD_ID = "zd01Pe2bNpYhxbrwYABgFE01twZdtv4M00kts2i02GhbGjc"
"""The upload id of the Mux spec's example answer, which Prism gives for every create."""
BIG = 5_000_000
"""Files at least this large go to Mux under :class:`BigFilesToMux`."""


class BigFilesToMux:
    """A host's selector: large files to Mux, the rest in the configured order."""

    def select(
        self, upload: NewUploadChoice, candidates: Sequence[ProviderCandidate]
    ) -> Sequence[str]:
        """Mux alone for large files; every candidate otherwise."""
        if upload.file_size >= BIG:
            return ("mux",)
        return tuple(candidate.name for candidate in candidates)


class Recorder(httpx.AsyncBaseTransport):
    """Forwards to ``inner`` and keeps (method, path) of every request Mux receives."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Record, then forward."""
        self.requests.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database of each kind, shared by the runs of one test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        return
    postgres_url()  # skips (or fails under CI) without a server
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def prism_url() -> Iterator[str]:
    """Prism serving Mux's trimmed OpenAPI spec, for the whole module."""
    spec = specs_dir() / "mux-video.openapi.json"
    need(prism_binary(), "Prism is not installed (npm ci installs @stoplight/prism-cli)")
    with run_prism(spec) as url:
        yield url


def settings_for(
    tmp_path: Path, database_url: str, names: tuple[str, ...], **changes: Any
) -> Settings:
    """A service with ``names`` in order over ``database_url``; no background reconciler."""
    mux = MuxSettings(
        token_id="contract-token-id",
        token_secret="contract-token-secret",
        webhook_secrets=(MUX_SECRET,),
        base_url=changes.pop("mux_base_url", "https://api.mux.example"),
    )
    return service_settings(
        tmp_path / "data",
        providers=names,
        mux=mux if "mux" in names else None,
        jwt_secret="j" * 40,
        database_url=database_url,
        reconcile_interval_seconds=0,
        **changes,
    )


def mux_webhook(event_type: str, data: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A Mux delivery of ``event_type`` about ``data``, signed as Mux signs."""
    body = json.dumps(
        {
            "type": event_type,
            "id": f"evt-{time.monotonic_ns()}",
            "created_at": "2026-06-01T09:00:00.000000Z",
            "object": {"type": event_type.split(".", maxsplit=1)[0], "id": data["id"]},
            "environment": {"name": "Production", "id": "env1"},
            "data": data,
        }
    ).encode()
    header = MUX_SCHEME.sign(MUX_SECRET, int(time.time()), body)
    return body, {"Mux-Signature": header, "Content-Type": "application/json"}


def mux_asset_ready(upload_id: str, mux_upload_id: str, asset_id: str) -> dict[str, Any]:
    """An asset.ready body for our ``upload_id``."""
    return {
        "id": asset_id,
        "upload_id": mux_upload_id,
        "passthrough": upload_id,
        "status": "ready",
        "duration": 2.5,
        "playback_ids": [{"id": f"pb{asset_id}", "policy": "public"}],
    }


async def post_mux(service: RunningService, event_type: str, data: dict[str, Any]) -> str:
    """Deliver a Mux webhook; its outcome."""
    body, headers = mux_webhook(event_type, data)
    response = await service.client.post("/api/v1/media/webhook/mux", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])


async def post_normalized(service: RunningService, payload: dict[str, Any]) -> str:
    """Deliver a normalized (fake) webhook; its outcome."""
    body = json.dumps({"eventId": f"n-{time.monotonic_ns()}", **payload}).encode()
    secret = webhook_secrets_for(service.settings)[0]
    response = await service.client.post(
        "/api/v1/media/webhook/upload-complete",
        content=body,
        headers=sign_normalized(secret, int(time.time()), body),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])


def reconciler_for(service: Any) -> Reconciler:
    """A reconciler that treats every unfinished upload as stale at once."""
    return Reconciler(
        service=service,
        settings=ReconcileSettings(
            pending_after=timedelta(0),
            uploading_after=timedelta(0),
            processing_after=timedelta(0),
            lease=timedelta(0),
        ),
    )


async def test_two_providers_each_serve_their_own_uploads(
    tmp_path: Path, database_url: str, prism_url: str
) -> None:
    """The fake and Mux (Prism) side by side; every call reaches the upload's own adapter."""
    settings = settings_for(tmp_path, database_url, ("fake", "mux"), mux_base_url=prism_url)
    container = build_container(settings)
    recorder = Recorder(httpx.AsyncHTTPTransport())
    container.provider_transport.override(providers.Object(recorder))
    container.provider_selector.override(providers.Object(BigFilesToMux()))
    async with running_service(settings, container) as service:
        small = await service.create(fileSize=2048)
        big = await service.create(fileSize=BIG)
        assert small.status_code == 201, small.text
        assert big.status_code == 201, big.text
        fake_id, mux_id = small.json()["id"], big.json()["id"]
        assert (small.json()["provider"], big.json()["provider"]) == ("fake", "mux")
        assert small.json()["failover"] is None
        assert recorder.requests == [("POST", "/video/v1/uploads")]
        assert (await service.status("alice", mux_id)).json()["provider"] == "mux"

        # Each route moves only its own provider's uploads.
        crossed = {
            "id": "someOtherMuxUpload",
            "status": "asset_created",
            "asset_id": "someOtherAsset",
            "new_asset_settings": {"passthrough": fake_id},
        }
        assert await post_mux(service, "video.upload.asset_created", crossed) == "unknown_upload"
        normalized = {"uploadId": mux_id, "status": "ready", "playbackId": "x", "duration": 1}
        assert await post_normalized(service, normalized) == "unknown_upload"
        assert (await service.status("alice", fake_id)).json()["status"] == "uploading"
        assert (await service.status("alice", mux_id)).json()["status"] == "uploading"
        ready = mux_asset_ready(mux_id, PRISM_UPLOAD_ID, "asset1")
        assert await post_mux(service, "video.asset.ready", ready) == "applied"
        fake_ready = {"uploadId": fake_id, "status": "ready", "playbackId": "fpb1", "duration": 1}
        assert await post_normalized(service, fake_ready) == "applied"

        # Playback from each provider's own adapter.
        mux_play = await service.client.get(
            f"/api/v1/media/{mux_id}/playback", headers=service.auth("alice")
        )
        fake_play = await service.client.get(
            f"/api/v1/media/{fake_id}/playback", headers=service.auth("alice")
        )
        assert mux_play.json()["url"] == "https://stream.mux.com/pbasset1.m3u8"
        assert fake_play.json()["url"].startswith(service.base_url)

        # A fake upload's cancel and delete send nothing to Mux; the Mux upload's go to Mux.
        before = list(recorder.requests)
        third = (await service.create(fileSize=2048)).json()["id"]
        cancelled = await service.client.post(
            f"/api/v1/media/{third}/cancel", headers=service.auth("alice")
        )
        assert cancelled.json()["status"] == "failed"
        data_dir = settings.data_dir
        assert (data_dir / "incoming" / f"{third}.cancelled").exists()
        assert (
            await service.client.delete(f"/api/v1/media/{fake_id}", headers=service.auth("alice"))
        ).status_code == 204
        assert recorder.requests == before
        assert (
            await service.client.delete(f"/api/v1/media/{mux_id}", headers=service.auth("alice"))
        ).status_code == 204
        assert recorder.requests == [*before, ("DELETE", "/video/v1/assets/asset1")]
        # A Mux upload's cancel goes to Mux (Prism hands out the same upload id again, free now).
        again = (await service.create(fileSize=BIG)).json()
        assert again["provider"] == "mux"
        recorder.requests.clear()
        cancelled = await service.client.post(
            f"/api/v1/media/{again['id']}/cancel", headers=service.auth("alice")
        )
        assert cancelled.json()["status"] == "failed"
        assert recorder.requests == [("PUT", f"/video/v1/uploads/{PRISM_UPLOAD_ID}/cancel")]


async def test_a_changed_default_keeps_old_uploads_on_their_provider(
    tmp_path: Path, database_url: str
) -> None:
    """Mux, then fake-first: the Mux uploads still take Mux webhooks, reconcile and delete."""
    api = FakeMuxApi()
    recorder = Recorder(httpx.MockTransport(api.handle))
    first = settings_for(tmp_path, database_url, ("mux",))
    container = build_container(first)
    container.provider_transport.override(providers.Object(recorder))
    async with running_service(first, container) as service:
        old = [(await service.create()).json() for _ in range(2)]
    assert [body["provider"] for body in old] == ["mux", "mux"]
    mux_ids = {body["id"]: upload for body, upload in zip(old, sorted(api.uploads), strict=True)}

    second = settings_for(tmp_path, database_url, ("fake", "mux"))
    container = build_container(second)
    container.provider_transport.override(providers.Object(recorder))
    async with running_service(second, container) as service:
        new = await service.create()
        assert new.json()["provider"] == "fake"
        (done, done_mux), (stale, stale_mux) = mux_ids.items()
        # The first old upload finishes by webhook, on the Mux route that is still live.
        api.finish(done_mux, ready=True)
        ready = mux_asset_ready(done, done_mux, f"as-{done_mux}")
        assert await post_mux(service, "video.asset.ready", ready) == "applied"
        # The second by reconciliation, which asks Mux, not the new default.
        api.finish(stale_mux, ready=True)
        recorder.requests.clear()
        report = await reconciler_for(await resolve(container.service)).run_once()
        assert report.applied >= 1
        assert ("GET", f"/video/v1/uploads/{stale_mux}") in recorder.requests
        assert all(path.startswith("/video/v1/") for _, path in recorder.requests)
        for upload_id in (done, stale):
            body = (await service.status("alice", upload_id)).json()
            assert (body["status"], body["provider"]) == ("ready", "mux")
        recorder.requests.clear()
        deleted = await service.client.delete(
            f"/api/v1/media/{stale}", headers=service.auth("alice")
        )
        assert deleted.status_code == 204
        assert recorder.requests == [("DELETE", f"/video/v1/assets/as-{stale_mux}")]
        assert (await service.status("alice", new.json()["id"])).json()["provider"] == "fake"


async def test_creates_fail_over_while_the_first_provider_is_down_and_come_back(
    tmp_path: Path, database_url: str
) -> None:
    """Mux failing before anything exists there: creates land on the fake, then back on Mux."""
    api = FakeMuxApi()
    transport = FaultyTransport(
        api.handle, rate=1.0, seed=7, kinds=("connect_timeout", "connect_error", "server_error")
    )
    settings = settings_for(
        tmp_path,
        database_url,
        ("mux", "fake"),
        provider_breaker_failures=3,
        provider_breaker_reset_seconds=1.0,
        metrics_mode="open",
    )
    container = build_container(settings)
    container.provider_transport.override(providers.Object(transport))
    async with running_service(settings, container) as service:
        breaker = container.provider_breakers()["mux"]
        down = [await service.create() for _ in range(6)]
        assert [r.status_code for r in down] == [201] * 6, [r.text for r in down]
        assert {r.json()["provider"] for r in down} == {"fake"}
        assert all(r.json()["failover"]["from"] == "mux" for r in down)
        assert breaker.state is CircuitState.OPEN
        reached = sum(transport.injected.values())
        assert reached == 3, "an open circuit is skipped, not called"
        ready = await service.client.get("/readyz")
        assert ready.status_code == 200, ready.text  # the fake still takes new uploads
        circuits = ready.json()["checks"]["providers"]
        assert circuits["providers"]["mux"]["state"] == "open"
        assert circuits["providers"]["mux"]["accepting"] is False
        assert circuits["providers"]["fake"]["accepting"] is True

        transport.rate = 0.0  # Mux recovers
        await asyncio.sleep(1.1)
        back = [await service.create() for _ in range(2)]
        assert [r.json()["provider"] for r in back] == ["mux", "mux"]
        assert [r.json()["failover"] for r in back] == [None, None]
        assert breaker.state is CircuitState.CLOSED
        scraped = parse((await service.client.get("/metrics")).text)
        records = {
            body["id"]: body
            for body in (
                await service.client.get("/api/v1/media?limit=100", headers=service.auth("alice"))
            ).json()["items"]
        }
    assert scraped.get("media_provider_failovers_total", **{"from": "mux", "to": "fake"}) == 6
    # No orphan: every Mux upload is one of ours on Mux; every create ended where it said.
    assert len(records) == 8
    on_mux = {api.passthrough(upload) for upload in api.uploads}
    assert on_mux == {r.json()["id"] for r in back}
    for response in [*down, *back]:
        record = records[response.json()["id"]]
        assert record["provider"] == response.json()["provider"]
        assert record["status"] == "uploading"


async def test_a_lost_answer_is_not_failed_over(tmp_path: Path, database_url: str) -> None:
    """Mux may have made the upload when its answer is lost: 503, never a second slot."""
    api = FakeMuxApi()
    transport = FaultyTransport(api.handle, rate=1.0, seed=7, kinds=("read_timeout",))
    settings = settings_for(tmp_path, database_url, ("mux", "fake"))
    container = build_container(settings)
    container.provider_transport.override(providers.Object(transport))
    async with running_service(settings, container) as service:
        response = await service.create()
        assert response.status_code == 503, response.text
        assert response.json()["type"] == "/problems/provider-unavailable"
        items = (await service.client.get("/api/v1/media", headers=service.auth("alice"))).json()[
            "items"
        ]
    assert [(item["provider"], item["status"]) for item in items] == [("mux", "failed")]
    assert len(api.uploads) == 1  # the slot of the lost answer; nothing at the fake


async def test_every_provider_down_answers_503(tmp_path: Path, database_url: str) -> None:
    """With Mux alone and down, the create answers 503 and readiness fails."""
    api = FakeMuxApi()
    transport = FaultyTransport(api.handle, rate=1.0, seed=7, kinds=("connect_error",))
    settings = settings_for(
        tmp_path,
        database_url,
        ("mux",),
        provider_breaker_failures=1,
        provider_breaker_reset_seconds=60.0,
    )
    container = build_container(settings)
    container.provider_transport.override(providers.Object(transport))
    async with running_service(settings, container) as service:
        first = await service.create()
        second = await service.create()
        ready = await service.client.get("/readyz")
    assert (first.status_code, second.status_code) == (503, 503)
    assert int(second.headers["Retry-After"]) >= 1
    assert ready.status_code == 503
    assert api.uploads == {}


async def test_a_removed_provider_leaves_its_uploads_readable(
    tmp_path: Path, database_url: str
) -> None:
    """Mux dropped from the configuration: reads work, writes answer the problem, the
    reconciler skips and counts, and nothing is sent anywhere for those uploads."""
    api = FakeMuxApi()
    recorder = Recorder(httpx.MockTransport(api.handle))
    first = settings_for(tmp_path, database_url, ("mux", "fake"))
    container = build_container(first)
    container.provider_transport.override(providers.Object(recorder))
    async with running_service(first, container) as service:
        played_id = (await service.create()).json()["id"]
        waiting_id = (await service.create()).json()["id"]
        played_mux = next(u for u in api.uploads if api.passthrough(u) == played_id)
        api.finish(played_mux, ready=True)
        ready = mux_asset_ready(played_id, played_mux, f"as-{played_mux}")
        assert await post_mux(service, "video.asset.ready", ready) == "applied"

    second = settings_for(tmp_path, database_url, ("fake",))
    container = build_container(second)
    recorder.requests.clear()
    async with running_service(second, container) as service:
        auth = service.auth("alice")
        status = (await service.status("alice", waiting_id)).json()
        assert (status["provider"], status["status"]) == ("mux", "uploading")
        listed = (await service.client.get("/api/v1/media", headers=auth)).json()["items"]
        assert {item["id"] for item in listed} == {played_id, waiting_id}
        playback = await service.client.get(f"/api/v1/media/{played_id}/playback", headers=auth)
        assert playback.status_code == 200, playback.text
        assert playback.json()["url"] == f"https://stream.mux.com/pbas-{played_mux}.m3u8"
        for method, path in (
            ("POST", f"/api/v1/media/{waiting_id}/cancel"),
            ("DELETE", f"/api/v1/media/{waiting_id}"),
            ("DELETE", f"/api/v1/media/{played_id}"),
        ):
            refused = await service.client.request(method, path, headers=auth)
            assert refused.status_code == 409, refused.text
            assert refused.json()["type"] == "/problems/provider-not-configured"
            assert refused.json()["provider"] == "mux"
        report = await reconciler_for(await resolve(container.service)).run_once()
        assert report.unconfigured == 1
        assert report.errors == 0
        again = (await service.status("alice", waiting_id)).json()
        assert (again["status"], again["updatedAt"]) == ("uploading", status["updatedAt"])
    assert recorder.requests == []
