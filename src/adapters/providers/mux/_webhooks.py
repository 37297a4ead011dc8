"""Mux webhooks: ``Mux-Signature: t=<unix>,v1=<hex>`` over the raw body, then the event.

The mapping of the objects they carry is :mod:`adapters.providers.mux._events`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from attrs import field, frozen

from adapters.providers.mux._events import PROVIDER, asset_event, deleted_event, ident, upload_event
from adapters.webhooks.signing import SignatureScheme
from media_core.errors import MalformedWebhook
from media_core.events import ProviderEvent
from media_core.ports import WebhookDelivery
from media_core.strict import MalformedJson, decode_json

log = logging.getLogger("adapters.providers.mux")

MUX_SIGNATURE_HEADER: Final = "Mux-Signature"

MUX_SIGNATURE = SignatureScheme(header=MUX_SIGNATURE_HEADER, timestamp_key="t", signature_key="v1")

_ASSET_SNAPSHOT_EVENTS: Final = {
    "video.asset.created": "preparing",
    "video.asset.ready": "ready",
    "video.asset.errored": "errored",
    "video.asset.updated": None,
    "video.asset.warning": None,
    "video.asset.non_standard_input_detected": None,
}
"""Asset events mapped by their snapshot's status; the value is the status their name implies."""

_UPLOAD_EVENTS: Final = {
    "video.upload.asset_created": "asset_created",
    "video.upload.cancelled": "cancelled",
    "video.upload.errored": "errored",
}

_ASSET_DELETED = "video.asset.deleted"


@frozen
class MuxWebhookVerifier:
    """Verifies ``Mux-Signature`` on the raw body against any of ``secrets``, then parses it.

    Several secrets (and several ``v1`` values in one header) allow rotating the signing secret.
    ``tolerance_seconds`` bounds the signed timestamp's distance from now, both ways.
    """

    secrets: Sequence[str] = field(repr=False)
    tolerance_seconds: float = 300.0

    def __attrs_post_init__(self) -> None:
        if not self.secrets or not all(self.secrets):
            raise ValueError("MuxWebhookVerifier needs at least one non-empty secret")

    @property
    def provider(self) -> str:
        """``mux``."""
        return PROVIDER

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookDelivery:
        """Raise ``InvalidSignature``, ``StaleWebhook`` or ``MalformedWebhook``, or parse."""
        MUX_SIGNATURE.verify(
            headers, body, now, secrets=self.secrets, tolerance_seconds=self.tolerance_seconds
        )
        return parse_webhook(body, now)


def parse_webhook(body: bytes, now: datetime) -> WebhookDelivery:
    """Turn a (verified) Mux webhook body into a delivery; see the module docstring."""
    try:
        envelope = decode_json(body)
    except MalformedJson as exc:
        raise MalformedWebhook(str(exc)) from None
    if not isinstance(envelope, dict):
        raise MalformedWebhook("the body must be a JSON object")
    event_type = envelope.get("type")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 200:
        raise MalformedWebhook("type must be a non-empty string")
    delivery_id = ident(envelope.get("id"))
    if delivery_id is None:
        raise MalformedWebhook("id must be a non-empty string of at most 255 characters")
    mapped = event_type in _ASSET_SNAPSHOT_EVENTS or event_type in _UPLOAD_EVENTS
    if not mapped and event_type != _ASSET_DELETED:
        return WebhookDelivery(provider=PROVIDER, event_type=event_type, event=None)
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise MalformedWebhook(f"{event_type} needs a data object")
    if ident(data.get("id")) is None:
        raise MalformedWebhook(f"{event_type} needs data.id")
    occurred_at = _timestamp(envelope.get("created_at")) or now
    try:
        event = _webhook_event(event_type, data, delivery_id, occurred_at)
    except ValueError as exc:  # the event's own invariants (ids' shape, storable text)
        raise MalformedWebhook(f"{event_type}: {exc}") from exc
    if event is None:
        log.info("mux %s %s: status changes nothing here", event_type, delivery_id)
    return WebhookDelivery(provider=PROVIDER, event_type=event_type, event=event)


def _webhook_event(
    event_type: str, data: dict[str, Any], delivery_id: str, occurred_at: datetime
) -> ProviderEvent | None:
    """The event of a mapped webhook type; ``data.id`` is known to be a usable id."""
    if event_type == _ASSET_DELETED:
        return deleted_event(
            str(data["id"]),
            delivery_id=delivery_id,
            event_type=event_type,
            occurred_at=occurred_at,
            upload_id=ident(data.get("passthrough")),
            provider_upload_id=ident(data.get("upload_id")),
        )
    if event_type in _UPLOAD_EVENTS:
        if not isinstance(data.get("status"), str):
            data = {**data, "status": _UPLOAD_EVENTS[event_type]}
        return upload_event(
            data, delivery_id=delivery_id, event_type=event_type, occurred_at=occurred_at
        )
    implied = _ASSET_SNAPSHOT_EVENTS[event_type]
    if implied is not None and not isinstance(data.get("status"), str):
        data = {**data, "status": implied}
    return asset_event(
        data, delivery_id=delivery_id, event_type=event_type, occurred_at=occurred_at
    )


def _timestamp(value: object) -> datetime | None:
    """An aware datetime from Mux's ISO 8601 ``created_at``; ``None`` if absent or odd."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
