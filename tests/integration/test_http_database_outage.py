"""The database goes away mid-run: 503 problem+json, and nothing is lost or half-written."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from adapters.webhooks import sign_normalized
from entrypoints.wiring.secrets import webhook_secrets_for
from tests.support.processes import fresh_postgres_database
from tests.support.repositories import postgres_url
from tests.support.service import RunningService, running_service, service_settings
from tests.support.tcp_proxy import CuttableProxy

ROUTE = "/api/v1/media/webhook/upload-complete"


def _through(url: str, proxy: CuttableProxy) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def _until_ok(call: object, attempts: int = 40) -> httpx.Response:
    """Retry ``call`` while the pool replaces connections that died in the outage."""
    response: httpx.Response | None = None
    for _ in range(attempts):
        response = await call()  # type: ignore[operator]
        if response.status_code < 500:
            return response
        await asyncio.sleep(0.1)
    assert response is not None
    return response


def _ready(service: RunningService, upload_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "eventId": f"ready-{upload_id}",
            "uploadId": upload_id,
            "playbackId": f"pb-{upload_id}",
            "status": "ready",
            "duration": 3.0,
        }
    ).encode()
    secret = webhook_secrets_for(service.settings)[0]
    return body, sign_normalized(secret, int(time.time()), body)


async def test_outage_answers_503_and_loses_nothing(tmp_path: Path) -> None:
    """During the outage every route answers 503 problem+json and stores nothing; afterwards the
    earlier upload is intact, the refused create left no record, and the refused webhook applies
    when the provider redelivers it."""
    async with fresh_postgres_database() as database_url:
        target = urlsplit(postgres_url())
        proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 5432)
        await proxy.start()
        settings = service_settings(tmp_path, database_url=_through(database_url, proxy))
        try:
            async with running_service(settings) as service:
                kept = (await service.create()).json()
                await proxy.cut()
                refused = await service.create(fileName="during.mp4")
                status = await service.status("alice", kept["id"])
                body, headers = _ready(service, kept["id"])
                webhook = await service.client.post(ROUTE, content=body, headers=headers)
                for response in (refused, status, webhook):
                    assert response.status_code == 503, response.text
                    assert response.headers["content-type"].startswith("application/problem+json")
                    assert response.json()["type"] == "/problems/repository-unavailable"
                    assert "127.0.0.1" not in response.text

                await proxy.restore()
                listing = await _until_ok(
                    lambda: service.client.get("/api/v1/media", headers=service.auth("alice"))
                )
                assert [item["id"] for item in listing.json()["items"]] == [kept["id"]]
                assert listing.json()["items"][0]["status"] == "uploading"
                redelivered = await _until_ok(
                    lambda: service.client.post(ROUTE, content=body, headers=headers)
                )
                assert redelivered.json()["outcome"] == "applied"
                final = (await service.status("alice", kept["id"])).json()
                assert final["status"] == "ready"
        finally:
            await proxy.cut()
