"""MEDIA_PROVIDER alone switches providers: the same journey passes through each adapter.

Each provider's HTTP API is played by an ``httpx.MockTransport`` (the contract tests check the
requests against the providers' OpenAPI specs); its webhooks are the providers' documented
payloads, signed the way each provider signs them, sent to the running service.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from adapters.webhooks import SignatureScheme
from entrypoints.container import build_container
from entrypoints.settings import load_settings
from tests.support.prism import free_port
from tests.support.service import make_video, running_service

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
JWT_SECRET = "s" * 40
MUX_SECRET = "mux-webhook-secret"
CF_SECRET = "cloudflare-webhook-secret"
MUX_UPLOAD_ID = "OA02dANZ7Kk01bNxPKxXfmn4iRn00hONrVX2eBT6frBcZ8"
CF_UID = "6b9e68b07dfee8cc2d116e4c51d6a957"


def environment(provider: str, data_dir: Path) -> dict[str, str]:
    """The environment of a service that uses ``provider``: nothing else differs."""
    env = {
        "MEDIA_PROVIDER": provider,
        "MEDIA_DATA_DIR": str(data_dir),
        "MEDIA_PORT": str(free_port()),
        "AUTH_JWT_SECRET": JWT_SECRET,
        "FAKE_PROCESSING_DELAY_SECONDS": "0",
    }
    if provider == "mux":
        env |= {
            "MUX_TOKEN_ID": "id",
            "MUX_TOKEN_SECRET": "secret",
            "MUX_WEBHOOK_SECRETS": MUX_SECRET,
        }
    if provider == "cloudflare":
        env |= {
            "CLOUDFLARE_ACCOUNT_ID": "acc",
            "CLOUDFLARE_API_TOKEN": "token",
            "CLOUDFLARE_WEBHOOK_SECRET": CF_SECRET,
            "CLOUDFLARE_CUSTOMER_SUBDOMAIN": "customer-f33zs165nr7gyfy4.cloudflarestream.com",
        }
    return env


def provider_api(request: httpx.Request) -> httpx.Response:
    """The two providers' create-upload APIs, as documented."""
    if request.method == "POST" and request.url.path == "/video/v1/uploads":
        sent = json.loads(request.content)
        return httpx.Response(
            201,
            json={
                "data": {
                    "id": MUX_UPLOAD_ID,
                    "url": "https://storage.googleapis.com/video-storage-us-east1-uploads/x",
                    "timeout": sent.get("timeout", 3600),
                    "status": "waiting",
                    "new_asset_settings": sent["new_asset_settings"],
                    "cors_origin": sent.get("cors_origin", "*"),
                }
            },
        )
    if request.method == "POST" and request.url.path.endswith("/stream/direct_upload"):
        return httpx.Response(
            200,
            json={
                "success": True,
                "errors": [],
                "messages": [],
                "result": {
                    "uid": CF_UID,
                    "uploadURL": f"https://upload.videodelivery.net/{CF_UID}",
                    "watermark": None,
                    "scheduledDeletion": None,
                },
            },
        )
    return httpx.Response(404, json={"error": "not mocked"})


def mux_deliveries(upload_id: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """Mux's upload.asset_created then asset.ready, for our upload, signed as Mux signs."""
    created = json.loads((FIXTURES / "mux" / "upload_asset_created.json").read_text())
    created["data"]["id"] = MUX_UPLOAD_ID
    created["data"].setdefault("new_asset_settings", {})["passthrough"] = upload_id
    ready = json.loads((FIXTURES / "mux" / "asset_ready.json").read_text())
    ready["data"]["upload_id"] = MUX_UPLOAD_ID
    ready["data"]["passthrough"] = upload_id
    scheme = SignatureScheme(header="Mux-Signature", timestamp_key="t", signature_key="v1")
    out = []
    for body in (created, ready):
        raw = json.dumps(body).encode()
        header = scheme.sign(MUX_SECRET, int(time.time()), raw)
        out.append(("mux", raw, {"Mux-Signature": header, "Content-Type": "application/json"}))
    return out


def cloudflare_deliveries(upload_id: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """Cloudflare's ready notification for our video, signed as Cloudflare signs."""
    body = copy.deepcopy(json.loads((FIXTURES / "cloudflare" / "video_ready.json").read_text()))
    body["uid"] = CF_UID
    body["meta"]["mediaCoreUploadId"] = upload_id
    raw = json.dumps(body).encode()
    scheme = SignatureScheme(header="Webhook-Signature", timestamp_key="time", signature_key="sig1")
    header = scheme.sign(CF_SECRET, int(time.time()), raw)
    return [("cloudflare", raw, {"Webhook-Signature": header, "Content-Type": "application/json"})]


EXPECTED: dict[str, dict[str, Any]] = {
    "mux": {"playbackId": "pZRRUL8HyLpvw8Cc01SZyKKgAzwT01lF02FUK5CFmw013HQ", "duration": 2.976},
    "cloudflare": {"playbackId": CF_UID, "duration": 5.5},
}


@pytest.mark.parametrize("provider", ["fake", "mux", "cloudflare"])
async def test_same_journey_through_each_provider(provider: str, tmp_path: Path) -> None:
    """create → the provider's own events → READY; only MEDIA_PROVIDER and its keys change."""
    settings = load_settings(environment(provider, tmp_path))
    container = build_container(settings)
    container.provider_transport.override(providers.Object(httpx.MockTransport(provider_api)))
    video = make_video(seconds=1.0)
    async with running_service(settings, container) as service:
        created = await service.create(fileSize=len(video))
        assert created.status_code == 201, created.text
        body = created.json()
        if provider == "fake":
            assert (await service.client.put(body["uploadUrl"], content=video)).status_code == 200
        else:
            if provider == "cloudflare":
                assert body["playbackId"] == CF_UID  # known from creation on Cloudflare
                assert body["upload"]["protocol"] == "form"
            else:
                assert body["playbackId"] is None  # Mux assigns it with the asset
                assert body["upload"]["method"] == "PUT"
            deliveries = (mux_deliveries if provider == "mux" else cloudflare_deliveries)(
                body["id"]
            )
            for route, raw, headers in deliveries:
                response = await service.client.post(
                    f"/api/v1/media/webhook/{route}", content=raw, headers=headers
                )
                assert response.status_code == 200, response.text
                assert response.json()["outcome"] == "applied"
        ready = await service.wait_for("alice", body["id"], {"ready", "failed"})
        assert ready["status"] == "ready", ready
        assert ready["provider"] == provider
        for key, value in EXPECTED.get(provider, {}).items():
            assert ready[key] == value
        assert ready["thumbnailUrl"]
        by_playback = await service.status("alice", ready["playbackId"])
        assert by_playback.json()["id"] == body["id"]
        others = [name for name in ("mux", "cloudflare") if name != provider]
        for other in others:
            missing = await service.client.post(f"/api/v1/media/webhook/{other}", content=b"{}")
            assert missing.status_code == 404
