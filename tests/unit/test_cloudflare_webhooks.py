"""Cloudflare Stream webhooks: the docs' example payloads, signed as Cloudflare signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.providers._http import HttpPolicy
from adapters.providers.cloudflare import CloudflareStreamVideoProvider, CloudflareWebhookVerifier
from media_core.errors import InvalidSignature, MalformedWebhook, StaleWebhook, WebhookRejected
from media_core.events import ProviderEventKind
from media_core.model import FailureCode, MediaUpload, UploadMetadata, UploadStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudflare"
SECRET = "85011ed3a913c6ad5f9cf6c5573cc0a7"  # the secret in Cloudflare's subscription example
NOW = datetime(2022, 6, 30, 17, 53, 30, tzinfo=UTC)
UID = "6b9e68b07dfee8cc2d116e4c51d6a957"


def fixture_bytes(name: str) -> bytes:
    """A fixture file's raw bytes, as Cloudflare would put them on the wire."""
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    """A fixture file, decoded."""
    data = json.loads(fixture_bytes(name))
    assert isinstance(data, dict)
    return data


def error_notification() -> dict[str, Any]:
    """The docs' error example merged into the docs' ready example (see the fixtures README)."""
    notification = fixture_json("video_ready.json")
    notification.update(fixture_json("video_error_fragment.json"))
    return notification


def cloudflare_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value Cloudflare sends, computed independently of the adapter."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"time={timestamp},sig1={digest.hexdigest()}"


def signed(body: bytes, *, secret: str = SECRET, at: datetime = NOW) -> dict[str, str]:
    """Headers of a delivery of ``body`` signed at ``at``."""
    return {
        "Webhook-Signature": cloudflare_signature(secret, int(at.timestamp()), body),
        "Content-Type": "application/json",
    }


@pytest.fixture
def verifier() -> CloudflareWebhookVerifier:
    """The verifier as the composition root builds it."""
    return CloudflareWebhookVerifier(secrets=SECRET, tolerance_seconds=300)


def test_the_docs_ready_notification_becomes_a_ready_event(
    verifier: CloudflareWebhookVerifier,
) -> None:
    """The documented success body, verbatim, gives READY with uid, duration and thumbnail."""
    body = fixture_bytes("video_ready.json")

    delivery = verifier.verify(signed(body), body, NOW)

    assert verifier.provider == delivery.provider == "cloudflare"
    assert delivery.event_type == "video.ready"
    event = delivery.event
    assert event is not None
    assert event.kind is ProviderEventKind.READY
    assert event.provider == "cloudflare"
    assert event.playback_id == event.provider_upload_id == UID
    assert event.upload_id is None  # this example was not created by media-core
    assert event.duration == 5.5
    assert event.progress == 100
    assert event.thumbnail_url == (
        f"https://customer-f33zs165nr7gyfy4.cloudflarestream.com/{UID}/thumbnails/thumbnail.jpg"
    )
    assert event.aspect_ratio == "7:4"
    assert event.occurred_at == datetime(2022, 6, 30, 17, 53, 21, 774299, tzinfo=UTC)


def test_the_docs_error_notification_becomes_a_failed_event(
    verifier: CloudflareWebhookVerifier,
) -> None:
    """The documented error status (errReasonCode spelling) gives FAILED as an invalid file."""
    body = json.dumps(error_notification()).encode()

    delivery = verifier.verify(signed(body), body, NOW)

    event = delivery.event
    assert event is not None
    assert delivery.event_type == "video.error"
    assert event.kind is ProviderEventKind.FAILED
    assert event.failure_code is FailureCode.INVALID_FILE
    assert event.failure_reason == (
        "The video was deemed to be corrupted or malformed. (ERR_MALFORMED_VIDEO)"
    )


def test_our_upload_id_is_read_from_meta(verifier: CloudflareWebhookVerifier) -> None:
    """meta.mediaCoreUploadId, set at creation, comes back as the event's upload id."""
    notification = fixture_json("video_ready.json")
    notification["meta"]["mediaCoreUploadId"] = "up_01"
    body = json.dumps(notification).encode()

    event = verifier.verify(signed(body), body, NOW).event

    assert event is not None
    assert event.upload_id == "up_01"


@pytest.mark.parametrize(
    ("state", "ready", "pct", "kind", "progress"),
    [
        ("downloading", False, "", ProviderEventKind.PROCESSING, None),
        ("queued", False, "0", ProviderEventKind.PROCESSING, 0),
        ("inprogress", False, "57.250000", ProviderEventKind.PROCESSING, 57),
        ("inprogress", True, "80", ProviderEventKind.READY, 100),
        ("ready", False, "39.000000", ProviderEventKind.PROCESSING, 39),
    ],
)
def test_processing_states_carry_progress(
    verifier: CloudflareWebhookVerifier,
    state: str,
    ready: bool,
    pct: str,
    kind: ProviderEventKind,
    progress: int | None,
) -> None:
    """Intermediate states map to PROCESSING with pctComplete as progress; playable is READY."""
    notification = fixture_json("video_ready.json")
    notification["readyToStream"] = ready
    notification["status"] = {"state": state, "pctComplete": pct}
    body = json.dumps(notification).encode()

    event = verifier.verify(signed(body), body, NOW).event

    assert event is not None
    assert event.kind is kind
    assert event.progress == progress


def test_a_video_waiting_for_its_bytes_is_acknowledged_without_an_event(
    verifier: CloudflareWebhookVerifier,
) -> None:
    """pendingupload is a valid delivery that carries no event."""
    notification = fixture_json("video_ready.json")
    notification.update(readyToStream=False, status={"state": "pendingupload"})
    body = json.dumps(notification).encode()

    delivery = verifier.verify(signed(body), body, NOW)

    assert delivery.event is None
    assert delivery.event_type == "video.pendingupload"


def test_redeliveries_share_a_delivery_id_and_different_facts_do_not(
    verifier: CloudflareWebhookVerifier,
) -> None:
    """Same facts (even re-serialized, with another ``modified``) → same id; new facts → new id."""
    original = fixture_bytes("video_ready.json")
    reserialized = fixture_json("video_ready.json")
    reserialized["modified"] = "2022-06-30T17:59:00Z"
    reserialized_body = json.dumps(reserialized, separators=(",", ":")).encode()
    errored = json.dumps(error_notification()).encode()

    ids = [
        verifier.verify(signed(body), body, NOW).event.delivery_id  # type: ignore[union-attr]
        for body in (original, original, reserialized_body, errored)
    ]

    assert ids[0] == ids[1] == ids[2]
    assert ids[3] != ids[0]


async def test_a_reconciler_read_of_the_same_video_shares_the_webhook_delivery_id(
    verifier: CloudflareWebhookVerifier,
) -> None:
    """The video object read by the reconciler and the webhook body de-duplicate together."""
    body = fixture_bytes("video_ready.json")
    answer = {"result": json.loads(body), "success": True, "errors": [], "messages": []}
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _r: httpx.Response(200, json=answer)),
        base_url="https://api.cloudflare.com/client/v4",
    )
    provider = CloudflareStreamVideoProvider(
        client,
        account_id="023e105f4ecef8ad9ca31a8372d0c353",
        policy=HttpPolicy(provider="cloudflare", rng=random.Random(1)),
    )
    upload = MediaUpload(
        id="up_01",
        owner_id="user-42",
        provider="cloudflare",
        file_name="small.mp4",
        file_size=383631,
        mime_type="video/mp4",
        metadata=UploadMetadata(),
        created_at=NOW,
        updated_at=NOW,
        status=UploadStatus.PROCESSING,
        provider_upload_id=UID,
        playback_id=UID,
    )

    [read] = await provider.fetch_events(upload, NOW)
    webhook = verifier.verify(signed(body), body, NOW).event

    assert webhook is not None
    assert read.delivery_id == webhook.delivery_id
    assert read.upload_id == "up_01"


BODY = fixture_bytes("video_ready.json")


@pytest.mark.parametrize(
    ("headers", "body", "error"),
    [
        pytest.param({}, BODY, InvalidSignature, id="missing-header"),
        pytest.param(
            signed(BODY, secret="wrong-secret"), BODY, InvalidSignature, id="wrong-secret"
        ),
        pytest.param(
            signed(BODY),
            BODY.replace(b'"duration": 5.5', b'"duration": 9.5'),
            InvalidSignature,
            id="tampered-body",
        ),
        pytest.param(
            signed(BODY, at=datetime(2022, 6, 30, 17, 40, tzinfo=UTC)),
            BODY,
            StaleWebhook,
            id="stale",
        ),
        pytest.param(
            signed(BODY, at=datetime(2022, 6, 30, 18, 5, tzinfo=UTC)),
            BODY,
            StaleWebhook,
            id="future",
        ),
        pytest.param({"Webhook-Signature": "garbage"}, BODY, InvalidSignature, id="no-pairs"),
        pytest.param(
            {"Webhook-Signature": f"time=abc,sig1={'0' * 64}"},
            BODY,
            InvalidSignature,
            id="bad-time",
        ),
        pytest.param(
            {"Webhook-Signature": f"time={int(NOW.timestamp())}"},
            BODY,
            InvalidSignature,
            id="no-sig1",
        ),
        pytest.param(
            {
                "Webhook-Signature": signed(BODY)["Webhook-Signature"]
                .replace("time=", "t=")
                .replace("sig1=", "v1=")
            },
            BODY,
            InvalidSignature,
            id="mux-layout",
        ),
        pytest.param(
            {"Webhook-Signature": "time=1,sig1=" + "a" * 5000},
            BODY,
            InvalidSignature,
            id="oversized-header",
        ),
    ],
)
def test_bad_signatures_and_timestamps_are_rejected(
    verifier: CloudflareWebhookVerifier,
    headers: dict[str, str],
    body: bytes,
    error: type[WebhookRejected],
) -> None:
    """Missing, wrong, tampered, stale, future or malformed signatures produce no event."""
    with pytest.raises(error):
        verifier.verify(headers, body, NOW)


def _shape(change: dict[str, Any]) -> bytes:
    notification = fixture_json("video_ready.json")
    notification.update(change)
    return json.dumps(notification).encode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b"{}", id="empty-object"),
        pytest.param(
            json.dumps(fixture_json("video_error_fragment.json")).encode(), id="docs-fragment"
        ),
        pytest.param(_shape({"uid": None}), id="no-uid"),
        pytest.param(_shape({"uid": "../../accounts"}), id="unsafe-uid"),
        pytest.param(_shape({"status": "ready"}), id="status-not-object"),
        pytest.param(_shape({"status": {"state": "finished"}}), id="unknown-state"),
        pytest.param(_shape({"status": {}}), id="no-state"),
        pytest.param(_shape({"readyToStream": "yes"}), id="ready-not-bool"),
        pytest.param(_shape({"duration": "5.5"}), id="duration-string"),
        pytest.param(_shape({"duration": True}), id="duration-bool"),
        pytest.param(_shape({"meta": ["x"]}), id="meta-not-object"),
        pytest.param(_shape({"meta": {"mediaCoreUploadId": 7}}), id="upload-id-not-string"),
        pytest.param(
            _shape({"status": {"state": "inprogress", "pctComplete": [1]}}), id="pct-list"
        ),
        pytest.param(
            _shape({"status": {"state": "error", "errorReasonCode": 3}}), id="code-not-string"
        ),
        pytest.param(
            json.dumps(
                {
                    "name": "Live Webhook Test",
                    "data": {"event_type": "live_input.disconnected"},
                    "ts": 1642074233,
                }
            ).encode(),
            id="live-input-notification",
        ),
    ],
)
def test_signed_bodies_of_unknown_or_invalid_shape_are_malformed(
    verifier: CloudflareWebhookVerifier, body: bytes
) -> None:
    """Correctly signed bodies that are not a Cloudflare video object produce no event."""
    with pytest.raises(MalformedWebhook):
        verifier.verify(signed(body), body, NOW)


def test_the_verifier_needs_a_secret_and_hides_it() -> None:
    """An empty secret is refused; the secret never shows in repr."""
    with pytest.raises(ValueError, match="secret"):
        CloudflareWebhookVerifier(secrets="")
    assert SECRET not in repr(CloudflareWebhookVerifier(secrets=SECRET))
