"""The seed's normalized webhook (``POST /api/v1/media/webhook/upload-complete``).

Body (camelCase, as in the seed; ``status`` and one reference are required)::

    {"eventId": "evt_1", "uploadId": "…", "playbackId": "…", "status": "ready",
     "progress": 100, "duration": 12.5, "thumbnailUrl": "https://…", "metadata": {}}

Signed like Mux: header ``Media-Core-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
The fake provider sends these; any trusted system of the host may too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import frozen

from adapters._numbers import finite_float
from adapters.webhooks.signing import SignatureScheme
from media_core.errors import MalformedWebhook
from media_core.events import ProviderEvent, ProviderEventKind
from media_core.model import FailureCode
from media_core.ports import WebhookDelivery
from media_core.strict import MalformedJson, decode_json

NORMALIZED_SIGNATURE_HEADER = "Media-Core-Signature"
SCHEME = SignatureScheme(header=NORMALIZED_SIGNATURE_HEADER, timestamp_key="t", signature_key="v1")

_KINDS = {
    "processing": ProviderEventKind.PROCESSING,
    "ready": ProviderEventKind.READY,
    "failed": ProviderEventKind.FAILED,
}
_MAX_ID = 200
_MAX_TEXT = 2000


def sign_normalized(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers that sign ``body`` for the normalized route."""
    return {
        NORMALIZED_SIGNATURE_HEADER: SCHEME.sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }


@frozen
class NormalizedWebhookVerifier:
    """Verifies and parses normalized deliveries on behalf of ``provider`` (``fake`` by default)."""

    secrets: Sequence[str]
    provider: str = "fake"
    tolerance_seconds: float = 300.0

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookDelivery:
        """Check the signature and age, then parse the body into one provider event."""
        SCHEME.verify(
            headers, body, now, secrets=self.secrets, tolerance_seconds=self.tolerance_seconds
        )
        try:
            data = decode_json(body)
        except MalformedJson as exc:
            raise MalformedWebhook(str(exc)) from None
        if not isinstance(data, dict):
            raise MalformedWebhook("the body must be a JSON object")
        return WebhookDelivery(
            provider=self.provider,
            event_type=f"upload.{data.get('status')}",
            event=self._event(data, body, now),
        )

    def _event(self, data: dict[str, Any], body: bytes, now: datetime) -> ProviderEvent:
        status = data.get("status")
        kind = _KINDS.get(status) if isinstance(status, str) else None
        if kind is None:
            raise MalformedWebhook("status must be one of processing, ready, failed")
        failure_code = None
        if kind is ProviderEventKind.FAILED:
            code = _texts(data, _FAILURE_CODE_LIMIT).get("failureCode")
            code = code or FailureCode.PROVIDER_ERROR.value
            try:
                failure_code = FailureCode(code)
            except ValueError as exc:
                raise MalformedWebhook(f"failureCode {code!r} is unknown") from exc
        texts = _texts(data)
        delivery_id = texts.get("eventId") or hashlib.sha256(body).hexdigest()
        try:
            return ProviderEvent(
                provider=self.provider,
                delivery_id=delivery_id,
                kind=kind,
                occurred_at=now,
                upload_id=texts.get("uploadId"),
                provider_upload_id=texts.get("providerUploadId"),
                asset_id=texts.get("assetId"),
                playback_id=texts.get("playbackId"),
                progress=_progress(data),
                duration=_duration(data),
                thumbnail_url=texts.get("thumbnailUrl"),
                aspect_ratio=texts.get("aspectRatio"),
                failure_code=failure_code,
                failure_reason=texts.get("failureReason"),
                event_type=f"upload.{status}",
            )
        except ValueError as exc:
            raise MalformedWebhook(str(exc)) from exc


_TEXT_LIMITS = {
    "eventId": _MAX_ID,
    "uploadId": _MAX_ID,
    "providerUploadId": _MAX_ID,
    "assetId": _MAX_ID,
    "playbackId": _MAX_ID,
    "thumbnailUrl": _MAX_TEXT,
    "aspectRatio": 20,
    "failureReason": _MAX_TEXT,
}
"""The body's text fields and their longest allowed length."""
_FAILURE_CODE_LIMIT = {"failureCode": _MAX_ID}
"""Checked only when the status is failed; other events ignore the field."""


def _texts(data: Mapping[str, Any], limits: Mapping[str, int] = _TEXT_LIMITS) -> dict[str, str]:
    """The body's non-empty text fields among ``limits``, each checked against its limit (one
    pass over what the body holds, rather than a lookup per field it may hold)."""
    texts: dict[str, str] = {}
    for key, value in data.items():
        limit = limits.get(key)
        if limit is None or value is None:
            continue
        if not isinstance(value, str) or len(value) > limit:
            raise MalformedWebhook(f"{key} must be a string of at most {limit} characters")
        if value:
            texts[key] = value
    return texts


def _progress(data: Mapping[str, Any]) -> int | None:
    value = data.get("progress")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise MalformedWebhook("progress must be an integer from 0 to 100")
    return value


def _duration(data: Mapping[str, Any]) -> float | None:
    value = data.get("duration")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedWebhook("duration must be a number of seconds")
    seconds = finite_float(value)
    if seconds is None or seconds < 0:
        raise MalformedWebhook("duration must be a finite, non-negative number of seconds")
    return seconds
