"""The Mux webhook verifier: signatures as Mux makes them, and the mapping of Mux's own payloads.

Fixtures are in ``tests/fixtures/mux`` (provenance in its README). Every body is signed here over
its exact bytes, as Mux signs: HMAC-SHA256 of ``"<t>.<raw body>"``, hex, in ``Mux-Signature``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.providers.mux import MUX_SIGNATURE, MuxWebhookVerifier
from media_core.errors import InvalidSignature, MalformedWebhook, StaleWebhook
from media_core.events import ProviderEventKind
from media_core.model import (
    FailureCode,
    MediaUpload,
    UploadMetadata,
    UploadStatus,
    Visibility,
)
from media_core.ports import WebhookDelivery, WebhookVerifier
from media_core.state_machine import apply_event

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mux"
SECRET = "whsec-current-0123456789abcdef"
OLD_SECRET = "whsec-previous-fedcba9876543210"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TS = int(NOW.timestamp())

UPLOAD_ID = "gjjg48rGLX4hBM9NVLzfTs13r8nr02CkYWE02Byd8jgV00"
ASSET_ID = "z3K6DX4yhJJ2CAe7ZcXCuWpNd501wa9axPmtROO5I5tc"
PLAYBACK_ID = "pZRRUL8HyLpvw8Cc01SZyKKgAzwT01lF02FUK5CFmw013HQ"


def fixture(name: str) -> bytes:
    """The raw bytes of one fixture file."""
    return (FIXTURES / name).read_bytes()


def edited(name: str, change: dict[str, Any] | None = None, **data: Any) -> bytes:
    """A fixture re-serialized with top-level ``change`` and ``data`` fields replaced."""
    body = json.loads(fixture(name))
    body.update(change or {})
    body["data"].update(data)
    return json.dumps(body).encode()


def mux_header(body: bytes, *, secret: str = SECRET, timestamp: int = TS) -> dict[str, str]:
    """Headers as Mux sends them, computed independently of the code under test."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {"mux-signature": f"t={timestamp},v1={digest.hexdigest()}"}


def verify(body: bytes, headers: dict[str, str] | None = None) -> WebhookDelivery:
    """Verify ``body`` with the current secret (signed with it unless headers are given)."""
    verifier = MuxWebhookVerifier(secrets=[SECRET], tolerance_seconds=300)
    return verifier.verify(headers if headers is not None else mux_header(body), body, NOW)


def upload_record(**changes: Any) -> MediaUpload:
    """One of our uploads, PROCESSING at Mux unless changed."""
    fields: dict[str, Any] = {
        "id": "up_1",
        "owner_id": "user_1",
        "provider": "mux",
        "file_name": "clip.mp4",
        "file_size": 1000,
        "mime_type": "video/mp4",
        "metadata": UploadMetadata(visibility=Visibility.PUBLIC),
        "created_at": NOW - timedelta(hours=1),
        "updated_at": NOW - timedelta(hours=1),
        "status": UploadStatus.PROCESSING,
        "provider_upload_id": UPLOAD_ID,
        "provider_asset_id": ASSET_ID,
    }
    fields.update(changes)
    return MediaUpload(**fields)


def test_the_verifier_is_a_webhook_verifier_for_mux() -> None:
    """It satisfies the port and names its provider ``mux``."""
    verifier: WebhookVerifier = MuxWebhookVerifier(secrets=[SECRET], tolerance_seconds=300)
    assert verifier.provider == "mux"


def test_the_scheme_reproduces_the_signature_vector_of_muxs_node_sdk() -> None:
    """The known-answer vector of Mux's own SDK tests comes out of our signer unchanged."""
    body = b'{"test":"body"}'
    expected = "t=1565125718,v1=854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7"
    assert MUX_SIGNATURE.sign("SuperSecret123", 1565125718, body) == expected


def test_the_verifier_accepts_muxs_vector_and_then_refuses_its_non_event_body() -> None:
    """Mux's SDK vector passes the signature check; ``{"test":"body"}`` is no event, so it stops."""
    verifier = MuxWebhookVerifier(secrets=["SuperSecret123"], tolerance_seconds=300)
    header = {
        "mux-signature": (
            "t=1565125718,v1=854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7"
        )
    }
    at = datetime.fromtimestamp(1565125718, tz=UTC)
    with pytest.raises(MalformedWebhook):
        verifier.verify(header, b'{"test":"body"}', at)


def test_upload_asset_created_becomes_processing_with_upload_and_asset_ids() -> None:
    """Mux's captured ``video.upload.asset_created`` moves the upload to PROCESSING."""
    delivery = verify(fixture("upload_asset_created.json"))
    event = delivery.event
    assert delivery.provider == "mux"
    assert delivery.event_type == "video.upload.asset_created"
    assert event is not None
    assert event.kind is ProviderEventKind.PROCESSING
    assert event.delivery_id == "03a81509-049a-4c46-bc39-113e9b6638d4"
    assert event.provider_upload_id == UPLOAD_ID
    assert event.asset_id == ASSET_ID
    assert event.upload_id is None  # that app set no passthrough
    assert event.occurred_at == datetime(2022, 6, 27, 20, 36, 33, tzinfo=UTC)


def test_upload_passthrough_becomes_our_upload_id() -> None:
    """``new_asset_settings.passthrough`` of an upload object is taken as our id."""
    body = json.loads(fixture("upload_asset_created.json"))
    body["data"]["new_asset_settings"]["passthrough"] = "up_1"
    delivery = verify(json.dumps(body).encode())
    assert delivery.event is not None
    assert delivery.event.upload_id == "up_1"


def test_asset_created_becomes_processing_with_the_public_playback_id() -> None:
    """``video.asset.created`` (status preparing) tells the playback id and a thumbnail URL."""
    event = verify(fixture("asset_created.json")).event
    assert event is not None
    assert event.kind is ProviderEventKind.PROCESSING
    assert event.delivery_id == "331b40f8-33f8-407f-a53e-e99283643a01"
    assert (event.asset_id, event.provider_upload_id) == (ASSET_ID, UPLOAD_ID)
    assert event.playback_id == PLAYBACK_ID
    assert event.thumbnail_url == f"https://image.mux.com/{PLAYBACK_ID}/thumbnail.jpg"


def test_asset_ready_becomes_ready_with_duration_aspect_ratio_and_thumbnail() -> None:
    """Mux's captured ``video.asset.ready`` carries everything a READY upload needs."""
    event = verify(fixture("asset_ready.json")).event
    assert event is not None
    assert event.kind is ProviderEventKind.READY
    assert event.delivery_id == "4813455b-8fe8-40cc-9150-9aa5e2de67ca"
    assert event.duration == 2.976
    assert event.aspect_ratio == "16:9"
    assert event.playback_id == PLAYBACK_ID
    assert event.asset_id == ASSET_ID
    assert event.provider_upload_id == UPLOAD_ID
    assert event.thumbnail_url == f"https://image.mux.com/{PLAYBACK_ID}/thumbnail.jpg"
    assert event.event_type == "video.asset.ready"


def test_asset_passthrough_becomes_our_upload_id() -> None:
    """An asset's ``passthrough`` is our id, so the event finds our record directly."""
    event = verify(edited("asset_ready.json", passthrough="up_1")).event
    assert event is not None
    assert event.upload_id == "up_1"


def test_the_docs_example_without_playback_ids_is_processing_not_ready() -> None:
    """Mux's docs example has no playback id: it records the asset but cannot make it READY."""
    delivery = verify(fixture("docs_asset_ready.json"))
    event = delivery.event
    assert delivery.event_type == "video.asset.ready"
    assert event is not None
    assert event.kind is ProviderEventKind.PROCESSING
    assert event.asset_id == "0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002"
    assert event.aspect_ratio == "40:17"
    assert event.delivery_id == "3a56ac3d-33da-4366-855b-f592d898409d"


def test_a_signed_playback_id_gets_no_unsigned_thumbnail() -> None:
    """For a signed playback id the thumbnail URL is left to signed playback."""
    body = edited("asset_ready.json", playback_ids=[{"policy": "signed", "id": "sig123"}])
    event = verify(body).event
    assert event is not None
    assert event.kind is ProviderEventKind.READY
    assert event.playback_id == "sig123"
    assert event.thumbnail_url is None


def test_a_public_playback_id_is_preferred_over_a_signed_one() -> None:
    """With both policies present the public id is the one recorded."""
    ids = [{"policy": "signed", "id": "sig123"}, {"policy": "public", "id": "pub456"}]
    event = verify(edited("asset_ready.json", playback_ids=ids)).event
    assert event is not None
    assert event.playback_id == "pub456"


def test_upload_cancelled_becomes_failed_cancelled() -> None:
    """``video.upload.cancelled`` with status cancelled fails the upload as cancelled."""
    event = verify(fixture("upload_cancelled.json")).event
    assert event is not None
    assert event.kind is ProviderEventKind.FAILED
    assert event.failure_code is FailureCode.CANCELLED
    assert event.provider_upload_id == "zd01Pe2bNpYhxbrwYABgFE01twZdtv4M00kts2i02GhbGjc"


def test_upload_timed_out_becomes_failed_expired() -> None:
    """Mux reports a timed-out upload as ``video.upload.cancelled`` with status timed_out."""
    event = verify(edited("upload_cancelled.json", status="timed_out")).event
    assert event is not None
    assert event.failure_code is FailureCode.EXPIRED


def test_upload_errored_becomes_failed_with_the_reason() -> None:
    """``video.upload.errored`` with ``invalid_input`` is an invalid file, reason kept."""
    event = verify(fixture("upload_errored.json")).event
    assert event is not None
    assert event.kind is ProviderEventKind.FAILED
    assert event.failure_code is FailureCode.INVALID_FILE
    assert event.failure_reason == "The uploaded file could not be read as media."


def test_asset_errored_becomes_failed_with_the_reason() -> None:
    """``video.asset.errored`` fails the upload with Mux's messages as the reason."""
    event = verify(fixture("asset_errored.json")).event
    assert event is not None
    assert event.kind is ProviderEventKind.FAILED
    assert event.failure_code is FailureCode.INVALID_FILE
    assert event.failure_reason == "The input file could not be processed."
    assert event.asset_id == ASSET_ID


def test_an_unknown_asset_error_type_is_a_provider_error() -> None:
    """Error types other than invalid_input are the provider's failure."""
    body = edited("asset_errored.json", errors={"type": "internal", "messages": []})
    event = verify(body).event
    assert event is not None
    assert event.failure_code is FailureCode.PROVIDER_ERROR
    assert event.failure_reason == "Mux could not process the video"


def test_asset_deleted_becomes_failed_deleted() -> None:
    """``video.asset.deleted`` is FAILED with code deleted (the core has no DELETED state)."""
    event = verify(fixture("asset_deleted.json")).event
    assert event is not None
    assert event.kind is ProviderEventKind.FAILED
    assert event.failure_code is FailureCode.DELETED
    assert event.asset_id == "lJ4bGGsp7ZlPf02nMg015W02iHQLN9XnuuLRBsPS00xqd68"


def test_deletion_at_mux_fails_an_unfinished_upload_and_leaves_a_ready_one() -> None:
    """Through the state machine: PROCESSING → FAILED(deleted); READY stays READY."""
    event = verify(edited("asset_ready.json", {"type": "video.asset.deleted"})).event
    assert event is not None
    processing = apply_event(upload_record(), event, NOW)
    assert processing.upload.status is UploadStatus.FAILED
    assert processing.upload.failure_code is FailureCode.DELETED
    ready = upload_record(status=UploadStatus.READY, duration=2.0, playback_id=PLAYBACK_ID)
    assert not apply_event(ready, event, NOW).changed


def test_non_standard_input_detected_is_read_as_the_asset_snapshot() -> None:
    """The informational event carries a preparing asset, hence PROCESSING."""
    body = edited("asset_created.json", {"type": "video.asset.non_standard_input_detected"})
    event = verify(body).event
    assert event is not None
    assert event.kind is ProviderEventKind.PROCESSING
    assert event.event_type == "video.asset.non_standard_input_detected"


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("live_stream_active.json", {}),
        ("asset_ready.json", {"type": "video.asset.track.ready"}),
        ("asset_ready.json", {"type": "video.asset.static_renditions.ready"}),
        ("upload_asset_created.json", {"type": "video.upload.created"}),
        ("asset_ready.json", {"type": "some.future.event"}),
    ],
)
def test_other_event_types_are_acknowledged_and_ignored(name: str, change: dict[str, Any]) -> None:
    """Types that do not concern upload state yield a delivery without an event."""
    body = edited(name, change) if change else fixture(name)
    delivery = verify(body)
    assert delivery.event is None
    assert delivery.event_type == json.loads(body)["type"]


def test_an_unknown_asset_status_changes_nothing() -> None:
    """A status Mux may add later is acknowledged without an event, not rejected."""
    delivery = verify(edited("asset_ready.json", {"type": "video.asset.updated"}, status="new"))
    assert delivery.event is None


def test_a_missing_status_falls_back_to_what_the_event_type_says() -> None:
    """``video.asset.errored`` without a status is still an errored asset."""
    body = json.loads(fixture("asset_errored.json"))
    del body["data"]["status"]
    event = verify(json.dumps(body).encode()).event
    assert event is not None
    assert event.kind is ProviderEventKind.FAILED


def test_odd_identifiers_of_foreign_assets_are_dropped_not_rejected() -> None:
    """A passthrough that is not one of our ids (too long, not a string) is ignored."""
    for passthrough in ("x" * 300, {"json": "object"}, "bad\nline"):
        event = verify(edited("asset_ready.json", passthrough=passthrough)).event
        assert event is not None
        assert event.upload_id is None
        assert event.asset_id == ASSET_ID


# --- bad deliveries: none of them yields an event ------------------------------------------


def test_a_missing_signature_header_is_rejected() -> None:
    """No ``Mux-Signature`` header: InvalidSignature."""
    with pytest.raises(InvalidSignature, match="missing"):
        verify(fixture("asset_ready.json"), headers={"content-type": "application/json"})


def test_a_signature_made_with_another_secret_is_rejected() -> None:
    """A body signed with a secret we do not hold: InvalidSignature."""
    body = fixture("asset_ready.json")
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(body, headers=mux_header(body, secret="someone-else"))


def test_a_tampered_body_is_rejected() -> None:
    """One changed byte after signing breaks the signature."""
    body = fixture("asset_ready.json")
    headers = mux_header(body)
    tampered = body.replace(b'"duration": 2.976', b'"duration": 9.976')
    assert tampered != body
    with pytest.raises(InvalidSignature):
        verify(tampered, headers=headers)


def test_a_reformatted_body_is_rejected() -> None:
    """The signature covers the raw bytes: re-serialized JSON with the same content fails."""
    body = fixture("asset_ready.json")
    headers = mux_header(body)
    with pytest.raises(InvalidSignature):
        verify(json.dumps(json.loads(body)).encode(), headers=headers)


@pytest.mark.parametrize("offset", [-301, 301, -86400, 86400])
def test_timestamps_outside_the_tolerance_are_stale(offset: int) -> None:
    """Authentic but too old or too far in the future: StaleWebhook."""
    body = fixture("asset_ready.json")
    with pytest.raises(StaleWebhook):
        verify(body, headers=mux_header(body, timestamp=TS + offset))


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_the_tolerance_are_accepted(offset: int) -> None:
    """At the edge of the tolerance window (either way) the delivery is accepted."""
    body = fixture("asset_ready.json")
    assert verify(body, headers=mux_header(body, timestamp=TS + offset)).event is not None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "v1=abc",
        "t=abc,v1=abc",
        "t=1,t=2",
        "t=-5,v1=abc",
        "t=1565125718,v2=854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7",
        "t=1565125718;v1=abc",
        "x" * 5000,
    ],
)
def test_malformed_signature_headers_are_rejected(value: str) -> None:
    """A header that is not ``t=<unix>,v1=<hex>``: InvalidSignature."""
    with pytest.raises(InvalidSignature):
        verify(fixture("asset_ready.json"), headers={"Mux-Signature": value})


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"id": "evt_1"}',
        b'{"type": "video.asset.ready"}',
        b'{"type": "video.asset.ready", "id": ""}',
        b'{"type": 5, "id": "evt_1"}',
        b'{"type": "video.asset.ready", "id": "evt_1"}',
        b'{"type": "video.asset.ready", "id": "evt_1", "data": []}',
        b'{"type": "video.asset.ready", "id": "evt_1", "data": {"status": "ready"}}',
        b'{"type": "video.upload.cancelled", "id": "evt_1", "data": {"status": "cancelled"}}',
        b'{"type": "video.asset.deleted", "id": "evt_1", "data": {"id": 7}}',
    ],
)
def test_signed_bodies_that_are_not_mux_events_are_malformed(body: bytes) -> None:
    """Authentic bytes that are not a Mux event of a known shape: MalformedWebhook."""
    with pytest.raises(MalformedWebhook):
        verify(body)


# --- secret rotation -------------------------------------------------------------------------


def test_either_configured_secret_verifies_during_rotation() -> None:
    """With the old and the new secret configured, bodies signed with either are accepted."""
    verifier = MuxWebhookVerifier(secrets=[SECRET, OLD_SECRET], tolerance_seconds=300)
    body = fixture("asset_ready.json")
    for secret in (SECRET, OLD_SECRET):
        delivery = verifier.verify(mux_header(body, secret=secret), body, NOW)
        assert delivery.event is not None


def test_a_header_with_two_v1_values_matches_on_either() -> None:
    """Mux may send several ``v1`` values while it rotates; one match is enough."""
    body = fixture("asset_ready.json")
    old = mux_header(body, secret=OLD_SECRET)["mux-signature"].split(",")[1]
    new = mux_header(body, secret=SECRET)["mux-signature"].split(",")[1]
    for header in (f"t={TS},{old},{new}", f"t={TS},{new},{old}", f"t={TS},v1=00,{new}"):
        assert verify(body, headers={"Mux-Signature": header}).event is not None


def test_a_retired_secret_no_longer_verifies() -> None:
    """Once the old secret is removed from the configuration, its signatures fail."""
    body = fixture("asset_ready.json")
    with pytest.raises(InvalidSignature):
        verify(body, headers=mux_header(body, secret=OLD_SECRET))


def test_the_verifier_needs_a_secret_and_hides_its_secrets() -> None:
    """No secret is a configuration error; the repr never shows a secret."""
    with pytest.raises(ValueError, match="secret"):
        MuxWebhookVerifier(secrets=[], tolerance_seconds=300)
    with pytest.raises(ValueError, match="secret"):
        MuxWebhookVerifier(secrets=[""], tolerance_seconds=300)
    verifier = MuxWebhookVerifier(secrets=[SECRET, OLD_SECRET], tolerance_seconds=300)
    assert SECRET not in repr(verifier)
    assert OLD_SECRET not in repr(verifier)
