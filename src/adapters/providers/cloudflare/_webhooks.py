"""Cloudflare Stream webhooks: ``Webhook-Signature: time=<unix>,sig1=<hex>`` over the raw body.

The signature is HMAC-SHA256 of ``"<time>.<raw body>"`` under the secret Cloudflare returned when
the webhook was subscribed (``PUT /accounts/{account_id}/stream/webhook``), compared in constant
time, then the timestamp is held to ``tolerance_seconds`` either way. Only then is the body read:
it is the video object, mapped by :mod:`adapters.providers.cloudflare._video` (which also explains
the content-based delivery id, since Cloudflare sends no event id).

The header shares its name with Standard Webhooks but not its format: the route picks this
verifier, never the header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from attrs import field, frozen

from adapters.providers.cloudflare._video import PROVIDER, BadVideo, parse_video, video_event
from adapters.webhooks.signing import SignatureScheme
from media_core.errors import MalformedWebhook
from media_core.ports import WebhookDelivery
from media_core.strict import MalformedJson, decode_json

CLOUDFLARE_SIGNATURE_HEADER = "Webhook-Signature"
SCHEME = SignatureScheme(
    header=CLOUDFLARE_SIGNATURE_HEADER, timestamp_key="time", signature_key="sig1"
)


def _secrets(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _non_empty(_: object, __: object, value: tuple[str, ...]) -> None:
    if not value or not all(value):
        raise ValueError("the Cloudflare webhook secrets must be at least one, none empty")


@frozen
class CloudflareWebhookVerifier:
    """Verifies Cloudflare Stream deliveries and turns their video object into one event.

    ``secrets`` (one string, or several while a secret is rotated): a delivery signed with any
    of them is authentic.
    """

    secrets: tuple[str, ...] = field(repr=False, converter=_secrets, validator=_non_empty)
    tolerance_seconds: float = 300.0

    @property
    def provider(self) -> str:
        """``cloudflare``."""
        return PROVIDER

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookDelivery:
        """Check signature and age on the raw ``body``, then parse it.

        Raises ``InvalidSignature``, ``StaleWebhook`` or ``MalformedWebhook``. A video still
        waiting for its bytes yields a delivery without an event.
        """
        SCHEME.verify(
            headers, body, now, secrets=self.secrets, tolerance_seconds=self.tolerance_seconds
        )
        try:
            data = decode_json(body)
        except MalformedJson as exc:
            raise MalformedWebhook(str(exc)) from None
        try:
            facts = parse_video(data)
            event = video_event(facts, now)
        except BadVideo as exc:
            raise MalformedWebhook(f"not a Cloudflare video object: {exc}") from exc
        return WebhookDelivery(provider=PROVIDER, event_type=f"video.{facts.state}", event=event)
