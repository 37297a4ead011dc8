"""The verifier of the seed's normalized webhook body: signature first, then a strict parse."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.webhooks import (
    NORMALIZED_SIGNATURE_HEADER,
    NormalizedWebhookVerifier,
    sign_normalized,
)
from media_core.errors import InvalidSignature, MalformedWebhook, StaleWebhook
from media_core.events import ProviderEventKind
from media_core.model import FailureCode
from media_core.ports import WebhookDelivery

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
SECRET = "normalized-secret"
VERIFIER = NormalizedWebhookVerifier(secrets=[SECRET])


def deliver(
    payload: Any,
    *,
    raw: bytes | None = None,
    secret: str = SECRET,
    timestamp: int = TS,
    verifier: NormalizedWebhookVerifier = VERIFIER,
) -> WebhookDelivery:
    """Sign ``payload`` (or ``raw`` bytes) and verify it at NOW."""
    body = raw if raw is not None else json.dumps(payload).encode()
    return verifier.verify(sign_normalized(secret, timestamp, body), body, NOW)


READY = {
    "eventId": "evt_1",
    "uploadId": "u1",
    "playbackId": "pb1",
    "status": "ready",
    "progress": 100,
    "duration": 12.5,
    "thumbnailUrl": "https://img.example/pb1.jpg",
    "metadata": {"any": "thing"},
}


def test_valid_ready_delivery_parses_into_one_event() -> None:
    """A signed READY body becomes a READY ProviderEvent with every field carried over."""
    delivery = deliver(READY)
    assert delivery.provider == "fake"
    assert delivery.event_type == "upload.ready"
    event = delivery.event
    assert event is not None
    assert event.kind is ProviderEventKind.READY
    assert (event.provider, event.delivery_id) == ("fake", "evt_1")
    assert (event.upload_id, event.playback_id) == ("u1", "pb1")
    assert (event.progress, event.duration) == (100, 12.5)
    assert event.thumbnail_url == "https://img.example/pb1.jpg"
    assert event.occurred_at == NOW
    assert event.event_type == "upload.ready"


def test_processing_delivery_with_progress_and_ids() -> None:
    """A PROCESSING body may reference the upload by provider ids and carry progress."""
    event = deliver(
        {"status": "processing", "providerUploadId": "up1", "assetId": "as1", "progress": 40}
    ).event
    assert event is not None
    assert event.kind is ProviderEventKind.PROCESSING
    assert (event.provider_upload_id, event.asset_id, event.progress) == ("up1", "as1", 40)


def test_failed_delivery_defaults_to_provider_error() -> None:
    """A FAILED body without a failure code is a provider error, with its reason kept."""
    event = deliver({"status": "failed", "uploadId": "u1", "failureReason": "codec"}).event
    assert event is not None
    assert event.failure_code is FailureCode.PROVIDER_ERROR
    assert event.failure_reason == "codec"


def test_failed_delivery_with_known_code() -> None:
    """A known failure code is kept."""
    event = deliver({"status": "failed", "uploadId": "u1", "failureCode": "size_mismatch"}).event
    assert event is not None
    assert event.failure_code is FailureCode.SIZE_MISMATCH


def test_delivery_without_event_id_is_identified_by_its_body_hash() -> None:
    """Without an eventId, the delivery id is the SHA-256 of the raw body, so replays match."""
    body = json.dumps({"status": "processing", "uploadId": "u1"}).encode()
    event = deliver(None, raw=body).event
    assert event is not None
    assert event.delivery_id == hashlib.sha256(body).hexdigest()


def test_provider_name_comes_from_the_verifier() -> None:
    """The same body verified for another provider names that provider."""
    verifier = NormalizedWebhookVerifier(secrets=[SECRET], provider="local")
    delivery = deliver(READY, verifier=verifier)
    assert delivery.provider == "local"
    assert delivery.event is not None
    assert delivery.event.provider == "local"


def test_sign_normalized_sets_the_documented_header() -> None:
    """The signature header is Media-Core-Signature with t= and v1=."""
    headers = sign_normalized(SECRET, TS, b"{}")
    assert headers[NORMALIZED_SIGNATURE_HEADER].startswith(f"t={TS},v1=")
    assert headers["Content-Type"] == "application/json"


# Signature and age.


def test_missing_signature_header_is_invalid_signature() -> None:
    """A body with no signature header is refused."""
    with pytest.raises(InvalidSignature):
        VERIFIER.verify({"Content-Type": "application/json"}, b"{}", NOW)


def test_wrong_secret_is_invalid_signature() -> None:
    """A body signed with another secret is refused."""
    with pytest.raises(InvalidSignature):
        deliver(READY, secret="nope")


def test_tampered_body_is_invalid_signature() -> None:
    """A body changed after signing is refused, whatever the change."""
    body = json.dumps(READY).encode()
    headers = sign_normalized(SECRET, TS, body)
    with pytest.raises(InvalidSignature):
        VERIFIER.verify(headers, body.replace(b"12.5", b"99.5"), NOW)


@pytest.mark.parametrize("offset", [-301, 301])
def test_stale_or_future_timestamp_is_stale(offset: int) -> None:
    """Deliveries signed outside the five-minute window are stale."""
    with pytest.raises(StaleWebhook):
        deliver(READY, timestamp=TS + offset)


def test_tolerance_is_configurable() -> None:
    """A wider window accepts what the default refuses."""
    wide = NormalizedWebhookVerifier(secrets=[SECRET], tolerance_seconds=3600)
    assert deliver(READY, timestamp=TS - 1800, verifier=wide).event is not None


def test_rotated_secrets_both_verify() -> None:
    """With two secrets configured, deliveries signed with either are accepted."""
    rotating = NormalizedWebhookVerifier(secrets=["new", SECRET])
    assert deliver(READY, secret="new", verifier=rotating).event is not None
    assert deliver(READY, secret=SECRET, verifier=rotating).event is not None


def test_signature_is_checked_before_the_body_is_parsed() -> None:
    """An unsigned non-JSON body is an InvalidSignature, not a MalformedWebhook."""
    with pytest.raises(InvalidSignature):
        VERIFIER.verify({}, b"not json", NOW)


# Bodies.


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"\xff\xfe", b"[1, 2]", b'"ready"', b"null", b""],
    ids=["text", "bad-utf8", "array", "string", "null", "empty"],
)
def test_signed_body_that_is_not_a_json_object_is_malformed(raw: bytes) -> None:
    """Only a JSON object is a delivery."""
    with pytest.raises(MalformedWebhook):
        deliver(None, raw=raw)


def test_bodies_are_utf8_and_nothing_else() -> None:
    """UTF-8 text (non-ASCII too) parses; the same object in UTF-16, or UTF-8 behind a byte-order
    mark, is malformed (RFC 8259: JSON between systems is UTF-8), however well signed."""
    text = json.dumps({**READY, "thumbnailUrl": "https://img.example/ü.jpg"}, ensure_ascii=False)
    delivery = deliver(None, raw=text.encode())
    assert delivery.event is not None
    assert delivery.event.thumbnail_url == "https://img.example/ü.jpg"
    for raw in (text.encode("utf-16"), b"\xef\xbb\xbf" + text.encode()):
        with pytest.raises(MalformedWebhook):
            deliver(None, raw=raw)


def test_empty_text_fields_count_as_absent() -> None:
    """An empty id or URL is no reference: an empty event id falls back to the body hash."""
    body = json.dumps({**READY, "eventId": "", "thumbnailUrl": ""}).encode()
    delivery = deliver(None, raw=body)
    assert delivery.event is not None
    assert delivery.event.delivery_id == hashlib.sha256(body).hexdigest()
    assert delivery.event.thumbnail_url is None


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "done"},
        {"status": 1},
        {"status": None},
        {"status": ["ready"]},
        {"uploadId": 7},
        {"playbackId": ["pb"]},
        {"eventId": {"id": 1}},
        {"thumbnailUrl": 3},
        {"progress": "50"},
        {"progress": 50.5},
        {"progress": True},
        {"progress": 101},
        {"progress": -1},
        {"duration": "12"},
        {"duration": False},
        {"duration": -0.5},
        {"uploadId": "u" * 201},
        {"failureCode": "bogus", "status": "failed"},
    ],
)
def test_wrong_types_and_values_are_malformed(changes: dict[str, Any]) -> None:
    """A signed body with a wrong type or out-of-range value is MalformedWebhook, never a crash."""
    with pytest.raises(MalformedWebhook):
        deliver({**READY, **changes})


@pytest.mark.parametrize(
    "literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"1" + b"0" * 400]
)
def test_non_finite_duration_is_malformed(literal: bytes) -> None:
    """NaN, infinities and integers beyond float range parse as JSON but are not durations."""
    raw = b'{"status":"ready","uploadId":"u1","playbackId":"p","duration":' + literal + b"}"
    with pytest.raises(MalformedWebhook):
        deliver(None, raw=raw)


@pytest.mark.parametrize("missing", ["duration", "playbackId"])
def test_ready_without_duration_or_playback_id_is_malformed(missing: str) -> None:
    """READY must carry what a READY upload needs."""
    body = {k: v for k, v in READY.items() if k != missing}
    with pytest.raises(MalformedWebhook, match="duration and a playback id"):
        deliver(body)


def test_delivery_without_any_reference_is_malformed() -> None:
    """A body that names no upload is malformed."""
    with pytest.raises(MalformedWebhook, match="reference"):
        deliver({"status": "processing", "uploadId": ""})


def test_huge_integer_duration_is_malformed() -> None:
    """An integer too large for a float is a malformed duration, not a crash."""
    raw = b'{"status":"ready","uploadId":"u1","playbackId":"p","duration":1' + b"0" * 400 + b"}"
    with pytest.raises(MalformedWebhook):
        deliver(None, raw=raw)


def test_deeply_nested_body_is_malformed() -> None:
    """A signed body nested beyond the parser's depth is malformed, not a crash."""
    with pytest.raises(MalformedWebhook):
        deliver(None, raw=b"[" * 100_000 + b"]" * 100_000)


def test_unsigned_large_nesting_never_reaches_the_parser() -> None:
    """Without a valid signature even a hostile body is rejected before parsing."""
    with pytest.raises(InvalidSignature):
        VERIFIER.verify({}, b"[" * 100_000, NOW)


def test_occurred_at_is_the_verification_time() -> None:
    """The normalized body carries no event time; the event is dated when it is verified."""
    later = NOW + timedelta(seconds=30)
    body = json.dumps(READY).encode()
    delivery = VERIFIER.verify(sign_normalized(SECRET, TS, body), body, later)
    assert delivery.event is not None
    assert delivery.event.occurred_at == later
