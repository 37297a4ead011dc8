"""A signed delivery whose content cannot be applied is ``MalformedWebhook`` on every route.

Findings 2 and 5 of issue 16: every verifier (normalized, Mux, Cloudflare) decodes its body with
the one strict JSON decoding (UTF-8 only, no lone surrogate), and every event it builds has
id-shaped references and storable text, so a delivery that would crash the store is refused as
a 4xx the provider sees, not a 500 it retries for a day. Also finding 9: Cloudflare rotation.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.providers.cloudflare import CloudflareWebhookVerifier
from adapters.providers.mux import MuxWebhookVerifier
from adapters.webhooks import NormalizedWebhookVerifier, sign_normalized
from entrypoints.settings import load_settings
from media_core.errors import InvalidSignature, MalformedWebhook, WebhookRejected
from media_core.ports import WebhookDelivery
from tests.strategies import hostile_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SECRET = "0123456789abcdef0123456789abcdef"
NOW = datetime(2022, 6, 30, 17, 53, 30, tzinfo=UTC)
TS = int(NOW.timestamp())


def _hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{TS}.".encode() + body, hashlib.sha256).hexdigest()


def normalized(body: bytes) -> WebhookDelivery:
    """The normalized route's verifier, on a body signed as the fake provider signs."""
    verifier = NormalizedWebhookVerifier(secrets=[SECRET])
    return verifier.verify(sign_normalized(SECRET, TS, body), body, NOW)


def mux(body: bytes) -> WebhookDelivery:
    """Mux's verifier, on a body signed as Mux signs."""
    verifier = MuxWebhookVerifier(secrets=[SECRET], tolerance_seconds=300)
    return verifier.verify({"Mux-Signature": f"t={TS},v1={_hmac(SECRET, body)}"}, body, NOW)


def cloudflare(body: bytes, secret: str = SECRET, secrets: tuple[str, ...] = (SECRET,)) -> Any:
    """Cloudflare's verifier, on a body signed as Cloudflare signs."""
    verifier = CloudflareWebhookVerifier(secrets=secrets, tolerance_seconds=300)
    header = {"Webhook-Signature": f"time={TS},sig1={_hmac(secret, body)}"}
    return verifier.verify(header, body, NOW)


def normalized_failed(**fields: Any) -> dict[str, Any]:
    """A normalized FAILED body for upload ``u1``, with ``fields`` replaced."""
    return {"eventId": "evt_1", "uploadId": "u1", "status": "failed", **fields}


def mux_errored(reason: str) -> dict[str, Any]:
    """Mux's documented ``video.asset.errored`` with its message replaced."""
    body: dict[str, Any] = json.loads((FIXTURES / "mux" / "asset_errored.json").read_bytes())
    body["data"]["errors"]["messages"] = [reason]
    return body


def cloudflare_error(reason: str) -> dict[str, Any]:
    """Cloudflare's documented error notification with its reason text replaced."""
    body: dict[str, Any] = json.loads((FIXTURES / "cloudflare" / "video_ready.json").read_bytes())
    body.update(json.loads((FIXTURES / "cloudflare" / "video_error_fragment.json").read_bytes()))
    body["status"]["errReasonText"] = reason
    return body


Verify = Callable[[bytes], Any]
ROUTES: list[tuple[str, Verify, Callable[[str], dict[str, Any]]]] = [
    ("normalized", normalized, lambda reason: normalized_failed(failureReason=reason)),
    ("mux", mux, mux_errored),
    ("cloudflare", cloudflare, cloudflare_error),
]
ROUTE_IDS = [name for name, _, _ in ROUTES]


@pytest.mark.parametrize(("name", "verify", "failed"), ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("reason", ["\ud800", "broken \udfff file", "\udc00\ud800"])
def test_a_signed_failure_message_with_a_lone_surrogate_is_malformed(
    name: str, verify: Verify, failed: Callable[[str], dict[str, Any]], reason: str
) -> None:
    """Finding 2: the escape is valid JSON but no store can keep it: a 4xx, every time."""
    body = json.dumps(failed(reason)).encode()  # the surrogate travels as a \\u escape
    assert b"\\ud" in body.lower()
    with pytest.raises(MalformedWebhook, match="surrogate"):
        verify(body)


@pytest.mark.parametrize(("name", "verify", "failed"), ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: text.encode("utf-16"), id="utf-16-bom"),
        pytest.param(lambda text: text.encode("utf-16-be"), id="utf-16-be"),
        pytest.param(
            lambda text: text.replace("QQ", "\ud83d\ude00").encode("utf-8", "surrogatepass"),
            id="cesu-8",
        ),
    ],
)
def test_a_signed_body_that_is_not_utf8_is_malformed(
    name: str, verify: Verify, failed: Callable[[str], dict[str, Any]], encode: Any
) -> None:
    """Finding 5: signed bytes in UTF-16 or with CESU-8 surrogate bytes are not JSON."""
    body = encode(json.dumps(failed("bad QQ file"), ensure_ascii=False))
    with pytest.raises(MalformedWebhook):
        verify(body)


@pytest.mark.parametrize(("name", "verify", "failed"), ROUTES, ids=ROUTE_IDS)
def test_a_failure_message_is_cleaned_like_user_text(
    name: str, verify: Verify, failed: Callable[[str], dict[str, Any]]
) -> None:
    """NUL (which PostgreSQL refuses) and invisible characters are stripped from reasons."""
    delivery = verify(json.dumps(failed("bad\x00 \u2060file\u202e")).encode())
    assert delivery.event is not None
    reason = delivery.event.failure_reason
    assert "\x00" not in reason
    assert "\u2060" not in reason
    assert "\u202e" not in reason


@pytest.mark.parametrize(
    "fields",
    [
        {"uploadId": "u1\x00"},
        {"uploadId": "x" * 300},
        {"uploadId": None, "playbackId": "a/../b"},
        {"eventId": "evt\x00"},
        {"thumbnailUrl": "https://img.example/\x00.jpg"},
    ],
)
def test_a_normalized_delivery_with_an_unusable_id_or_text_is_malformed(
    fields: dict[str, Any],
) -> None:
    """Finding 4 (webhook side): a reference without an id's shape, or text with NUL."""
    with pytest.raises(MalformedWebhook):
        normalized(json.dumps(normalized_failed(**fields)).encode())


def test_a_mux_passthrough_that_is_not_an_id_is_dropped_not_refused() -> None:
    """Assets made by other systems may carry anything in passthrough: it names no upload."""
    body = json.loads((FIXTURES / "mux" / "asset_ready.json").read_bytes())
    body["data"]["passthrough"] = "order 42\x00"
    delivery = mux(json.dumps(body).encode())
    assert delivery.event is not None
    assert delivery.event.upload_id is None


@settings(max_examples=150)
@given(route=st.sampled_from(ROUTES), reason=hostile_text)
def test_any_failure_text_is_applied_or_malformed(
    route: tuple[str, Verify, Callable[[str], dict[str, Any]]], reason: str
) -> None:
    """Hostile text in a signed failure: an event with storable text, or MalformedWebhook."""
    _, verify, failed = route
    try:
        delivery = verify(json.dumps(failed(reason)).encode())
    except MalformedWebhook:
        return
    if delivery.event is not None and delivery.event.failure_reason is not None:
        assert "\x00" not in delivery.event.failure_reason
        delivery.event.failure_reason.encode("utf-8")


@settings(max_examples=150)
@given(route=st.sampled_from(ROUTES), body=st.binary(max_size=300))
def test_any_signed_bytes_are_a_delivery_or_a_rejection(
    route: tuple[str, Verify, Callable[[str], dict[str, Any]]], body: bytes
) -> None:
    """Arbitrary signed bytes never raise anything but a WebhookRejected."""
    _, verify, _ = route
    with contextlib.suppress(WebhookRejected):
        verify(body)


# Finding 9: Cloudflare secret rotation.

OLD, NEW = "old-secret-0000", "new-secret-1111"


@pytest.mark.parametrize("signer", [OLD, NEW])
def test_cloudflare_accepts_any_of_several_secrets(signer: str) -> None:
    """While a secret is rotated, deliveries signed with either one are authentic."""
    body = json.dumps(cloudflare_error("x")).encode()
    delivery = cloudflare(body, secret=signer, secrets=(OLD, NEW))
    assert delivery.event is not None


def test_cloudflare_refuses_a_secret_it_was_not_given() -> None:
    """A third secret is still a forgery."""
    body = json.dumps(cloudflare_error("x")).encode()
    with pytest.raises(InvalidSignature):
        cloudflare(body, secret="someone-else", secrets=(OLD, NEW))


def test_cloudflare_needs_at_least_one_non_empty_secret() -> None:
    """No secret, or an empty one, is a configuration error."""
    for secrets in ((), ("",), (OLD, "")):
        with pytest.raises(ValueError, match="secrets"):
            CloudflareWebhookVerifier(secrets=secrets)


CLOUDFLARE_ENV = {
    "MEDIA_PROVIDER": "cloudflare",
    "CLOUDFLARE_ACCOUNT_ID": "acc",
    "CLOUDFLARE_API_TOKEN": "tok",
    "AUTH_JWT_SECRET": "j" * 32,
}


@pytest.mark.parametrize(
    ("env", "secrets"),
    [
        ({"CLOUDFLARE_WEBHOOK_SECRETS": f"{NEW}, {OLD}"}, (NEW, OLD)),
        ({"CLOUDFLARE_WEBHOOK_SECRET": OLD}, (OLD,)),
        ({"CLOUDFLARE_WEBHOOK_SECRET": "a,b"}, ("a,b",)),
        ({"CLOUDFLARE_WEBHOOK_SECRETS": NEW, "CLOUDFLARE_WEBHOOK_SECRET": OLD}, (NEW,)),
    ],
)
def test_cloudflare_secrets_come_from_either_variable(
    env: dict[str, str], secrets: tuple[str, ...]
) -> None:
    """``CLOUDFLARE_WEBHOOK_SECRETS`` (comma-separated) wins; the single name is one secret."""
    settings_ = load_settings({**CLOUDFLARE_ENV, **env})
    assert settings_.cloudflare is not None
    assert settings_.cloudflare.webhook_secrets == secrets
