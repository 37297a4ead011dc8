"""Mux Video: direct uploads, verified webhooks, reconciliation reads, cancel/delete, playback.

:class:`MuxVideoProvider` implements ``media_core.ports.VideoProvider`` over an
``httpx.AsyncClient`` that already carries ``base_url`` (``https://api.mux.com``) and Basic auth
(token id and secret); every call goes through :class:`adapters.providers._http.HttpPolicy`.
:class:`MuxWebhookVerifier` implements ``WebhookVerifier`` for the Mux route.

How Mux objects become :class:`ProviderEvent` s (webhooks and reconciliation reads alike)::

    upload  waiting                      → nothing (our record is UPLOADING already)
    upload  asset_created                → PROCESSING (provider upload id, asset id)
    upload  cancelled                    → FAILED cancelled
    upload  timed_out                    → FAILED expired   (Mux sends video.upload.cancelled)
    upload  errored                      → FAILED provider_error (invalid_file for invalid_input)
    asset   preparing                    → PROCESSING (asset id, playback id, aspect ratio)
    asset   ready, with a playback id    → READY (duration, playback id, thumbnail, aspect ratio)
    asset   ready, without a playback id → PROCESSING: nobody could play it; we never create such
                                           assets (every upload asks for a playback policy)
    asset   errored                      → FAILED provider_error (invalid_file for invalid_input)
    asset   deleted (or 404 on a read)   → FAILED deleted

Asset events are mapped by the ``status`` of the asset snapshot they carry, for
``video.asset.created``, ``.ready``, ``.errored``, ``.updated``, ``.warning`` and
``.non_standard_input_detected`` (the last two are informational, but their snapshot is as true
as any other). Every other event type (tracks, static renditions, live streams,
``video.upload.created`` …) is acknowledged and ignored: ``WebhookDelivery.event`` is ``None``.

Deletion at Mux: the core has no DELETED state, so ``video.asset.deleted`` becomes FAILED with
``FailureCode.DELETED``. The state machine keeps terminal states terminal: a READY upload whose
asset is deleted at Mux stays READY here (its playback then fails at Mux); a FAILED one stays as it
failed. Deleting our record deletes at Mux (``delete_video``), and the echo of that deletion
finds no record and changes nothing.

References: our upload id travels as the asset's ``passthrough`` (``new_asset_settings.passthrough``
on the upload object), the provider upload id is the upload's ``id`` or the asset's ``upload_id``.
Identifiers that are not strings of a sane length (assets created by others may carry anything in
``passthrough``) are dropped rather than rejected: a 4xx would make Mux retry a genuine delivery for
a day. Only a body that is not a Mux event at all is ``MalformedWebhook``.

Thumbnails: ``thumbnail_url`` is set only for a public playback id; a signed one needs a token,
which :meth:`MuxVideoProvider.playback` adds.

PRIVATE playback without a signing key: :meth:`MuxVideoProvider.playback` raises
``Conflict`` (HTTP 409 as problem+json) that names the missing settings; the key is
checked once at construction, so a bad key fails at start, not at the first viewer.

Secrets (API token, webhook secrets, signing key) are never logged nor put in an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

import httpx
import jwt
from attrs import field, frozen
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from adapters._numbers import finite_float
from adapters.providers._http import HttpPolicy
from adapters.webhooks.signing import SignatureScheme
from media_core.errors import Conflict, MalformedWebhook, ProviderUnavailable
from media_core.events import ProviderEvent, ProviderEventKind
from media_core.model import FailureCode, MediaUpload, UploadProtocol, Visibility
from media_core.ports import DirectUploadRequest, DirectUploadTicket, Playback, WebhookDelivery

log = logging.getLogger("adapters.providers.mux")

PROVIDER: Final = "mux"
MUX_SIGNATURE_HEADER: Final = "Mux-Signature"
MUX_SIGNATURE = SignatureScheme(header=MUX_SIGNATURE_HEADER, timestamp_key="t", signature_key="v1")

STREAM_BASE: Final = "https://stream.mux.com"
IMAGE_BASE: Final = "https://image.mux.com"
HLS_MIME_TYPE: Final = "application/vnd.apple.mpegurl"

CHUNK_QUANTUM: Final = 256 * 1024
"""Mux wants every chunk but the last of a Content-Range PUT upload to be a multiple of 256 KiB."""
DEFAULT_CHUNK_SIZE: Final = 64 * CHUNK_QUANTUM  # 16 MiB
MAX_PASSTHROUGH: Final = 255

_MAX_ID = 255
_MAX_REASON = 1000
_MAX_ASPECT_RATIO = 20

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


class MuxVideoProvider:
    """The Mux Video adapter of the ``VideoProvider`` port; see the module docstring."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        policy: HttpPolicy,
        cors_origin: str = "*",
        upload_timeout_seconds: int = 3600,
        test_mode: bool = False,
        signing_key_id: str | None = None,
        signing_private_key: str | None = None,
        playback_token_ttl_seconds: int = 3600,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        video_quality: str | None = None,
        max_resolution_tier: str | None = None,
    ) -> None:
        if not 60 <= upload_timeout_seconds <= 604800:
            raise ValueError("upload_timeout_seconds must be within 60..604800 (Mux's limits)")
        if chunk_size <= 0 or chunk_size % CHUNK_QUANTUM:
            raise ValueError(f"chunk_size must be a positive multiple of {CHUNK_QUANTUM} bytes")
        if playback_token_ttl_seconds <= 0:
            raise ValueError("playback_token_ttl_seconds must be positive")
        if bool(signing_key_id) != bool(signing_private_key):
            raise ValueError("signing_key_id and signing_private_key go together")
        self._client = client
        self._policy = policy
        self._cors_origin = cors_origin
        self._upload_timeout = upload_timeout_seconds
        self._test_mode = test_mode
        self._signing_key_id = signing_key_id or None
        self._signing_key = load_signing_key(signing_private_key) if signing_private_key else None
        self._token_ttl = playback_token_ttl_seconds
        self._chunk_size = chunk_size
        self._video_quality = video_quality
        self._max_resolution_tier = max_resolution_tier

    def __repr__(self) -> str:
        return (
            f"MuxVideoProvider(cors_origin={self._cors_origin!r}, test_mode={self._test_mode}, "
            f"signed_playback={self._signing_key is not None})"
        )

    @property
    def name(self) -> str:
        """``mux``."""
        return PROVIDER

    async def create_direct_upload(self, request: DirectUploadRequest) -> DirectUploadTicket:
        """Create a direct upload whose asset carries our id as passthrough.

        Not retried after an attempt that may have reached Mux (a second upload would be orphaned).
        """
        if len(request.upload_id) > MAX_PASSTHROUGH:
            raise ValueError(f"upload ids must fit Mux's passthrough ({MAX_PASSTHROUGH} chars)")
        policy = "signed" if request.metadata.visibility is Visibility.PRIVATE else "public"
        settings: dict[str, Any] = {"playback_policy": [policy], "passthrough": request.upload_id}
        if self._video_quality:
            settings["video_quality"] = self._video_quality
        if self._max_resolution_tier:
            settings["max_resolution_tier"] = self._max_resolution_tier
        body: dict[str, Any] = {
            "new_asset_settings": settings,
            "cors_origin": self._cors_origin,
            "timeout": self._upload_timeout,
        }
        if self._test_mode:
            body["test"] = True
        response = await self._policy.send(
            self._client, "create_upload", "POST", "/video/v1/uploads", json=body, retry=False
        )
        data = _data(response, "create_upload")
        upload_id = _ident(data.get("id"))
        url = data.get("url")
        if upload_id is None or not isinstance(url, str) or not url.startswith("https://"):
            raise ProviderUnavailable("mux create_upload: the answer has no upload id or URL")
        timeout = data.get("timeout")
        seconds = self._upload_timeout
        if isinstance(timeout, int) and not isinstance(timeout, bool) and timeout > 0:
            seconds = timeout
        log.info("mux upload %s created for %s (%s)", upload_id, request.upload_id, policy)
        return DirectUploadTicket(
            provider_upload_id=upload_id,
            url=url,
            protocol=UploadProtocol.PUT,
            method="PUT",
            expires_at=request.now + timedelta(seconds=seconds),
            chunk_size=self._chunk_size,
        )

    async def fetch_events(self, upload: MediaUpload, now: datetime) -> Sequence[ProviderEvent]:
        """Read the upload (unless the asset is known) and its asset, as reconciliation events.

        Delivery ids are ``reconcile:<upload or asset id>:<status>``, so reading the same state
        twice yields the same (de-duplicated) delivery.
        """
        asset_id = upload.provider_asset_id
        events: list[ProviderEvent] = []
        if asset_id is None:
            if upload.provider_upload_id is None:
                return []
            data = await self._get_upload(upload.provider_upload_id)
            if data is None:
                return []
            status = data.get("status")
            event = upload_event(
                data,
                delivery_id=f"reconcile:{upload.provider_upload_id}:{status}",
                event_type=f"reconcile.upload.{status}",
                occurred_at=now,
                upload_id=upload.id,
            )
            if event is not None:
                events.append(event)
            asset_id = _ident(data.get("asset_id"))
            if asset_id is None:
                return events
        response = await self._policy.send(
            self._client,
            "get_asset",
            "GET",
            f"/video/v1/assets/{_path(asset_id)}",
            allow_statuses=(404,),
        )
        if response.status_code == 404:
            events.append(
                _deleted_event(
                    asset_id,
                    delivery_id=f"reconcile:{asset_id}:deleted",
                    event_type="reconcile.asset.deleted",
                    occurred_at=now,
                    upload_id=upload.id,
                    provider_upload_id=upload.provider_upload_id,
                )
            )
            return events
        asset = _data(response, "get_asset")
        status = asset.get("status")
        event = asset_event(
            asset,
            delivery_id=f"reconcile:{asset_id}:{status}",
            event_type=f"reconcile.asset.{status}",
            occurred_at=now,
            upload_id=upload.id,
        )
        if event is not None:
            events.append(event)
        return events

    async def cancel_upload(self, upload: MediaUpload) -> None:
        """Cancel the direct upload; if Mux already made an asset of it, delete that asset.

        Mux refuses (403) to cancel an upload that is no longer waiting; an asset it made would
        otherwise be orphaned, since our record is final. Gone (404) is not an error.
        """
        if upload.provider_upload_id is None:
            if upload.provider_asset_id is not None:
                await self._delete_asset(upload.provider_asset_id)
            return
        path = f"/video/v1/uploads/{_path(upload.provider_upload_id)}/cancel"
        response = await self._policy.send(
            self._client, "cancel_upload", "PUT", path, allow_statuses=(403, 404)
        )
        if response.status_code != 403:
            return
        data = await self._get_upload(upload.provider_upload_id)
        asset_id = _ident(data.get("asset_id")) if data else None
        asset_id = asset_id or upload.provider_asset_id
        if asset_id is not None:
            await self._delete_asset(asset_id)

    async def delete_video(self, upload: MediaUpload) -> None:
        """Delete the asset; with no asset known yet, cancel the upload (which finds a late one)."""
        if upload.provider_asset_id is not None:
            await self._delete_asset(upload.provider_asset_id)
        elif upload.provider_upload_id is not None:
            await self.cancel_upload(upload)

    async def playback(self, upload: MediaUpload, now: datetime) -> Playback:
        """HLS and thumbnail URLs; for PRIVATE, RS256 tokens for audiences ``v`` and ``t``.

        Raises ``Conflict`` when there is no playback id yet, or when a PRIVATE upload needs
        signed playback and no signing key is configured.
        """
        playback_id = upload.playback_id
        if playback_id is None:
            raise Conflict(f"upload {upload.id} has no Mux playback id yet")
        quoted = _path(playback_id)
        url = f"{STREAM_BASE}/{quoted}.m3u8"
        thumbnail = f"{IMAGE_BASE}/{quoted}/thumbnail.jpg"
        if upload.metadata.visibility is not Visibility.PRIVATE:
            return Playback(url=url, mime_type=HLS_MIME_TYPE, thumbnail_url=thumbnail)
        if self._signing_key is None or self._signing_key_id is None:
            raise Conflict(
                "signed playback is not configured: set MUX_SIGNING_KEY_ID and "
                "MUX_SIGNING_PRIVATE_KEY to play PRIVATE videos"
            )
        expires_at = now + timedelta(seconds=self._token_ttl)
        token = self._sign(playback_id, "v", expires_at)
        thumbnail_token = self._sign(playback_id, "t", expires_at)
        return Playback(
            url=f"{url}?token={token}",
            mime_type=HLS_MIME_TYPE,
            thumbnail_url=f"{thumbnail}?token={thumbnail_token}",
            token=token,
            thumbnail_token=thumbnail_token,
            expires_at=expires_at,
        )

    def _sign(self, playback_id: str, audience: str, expires_at: datetime) -> str:
        assert self._signing_key is not None
        assert self._signing_key_id is not None
        claims = {
            "sub": playback_id,
            "aud": audience,
            "exp": int(expires_at.timestamp()),
            "kid": self._signing_key_id,
        }
        return jwt.encode(
            claims, self._signing_key, algorithm="RS256", headers={"kid": self._signing_key_id}
        )

    async def _get_upload(self, provider_upload_id: str) -> dict[str, Any] | None:
        response = await self._policy.send(
            self._client,
            "get_upload",
            "GET",
            f"/video/v1/uploads/{_path(provider_upload_id)}",
            allow_statuses=(404,),
        )
        if response.status_code == 404:
            return None
        return _data(response, "get_upload")

    async def _delete_asset(self, asset_id: str) -> None:
        await self._policy.send(
            self._client,
            "delete_asset",
            "DELETE",
            f"/video/v1/assets/{_path(asset_id)}",
            allow_statuses=(404,),
        )


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
        envelope = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedWebhook("the body is not JSON") from exc
    if not isinstance(envelope, dict):
        raise MalformedWebhook("the body must be a JSON object")
    event_type = envelope.get("type")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 200:
        raise MalformedWebhook("type must be a non-empty string")
    delivery_id = _ident(envelope.get("id"))
    if delivery_id is None:
        raise MalformedWebhook("id must be a non-empty string of at most 255 characters")
    mapped = event_type in _ASSET_SNAPSHOT_EVENTS or event_type in _UPLOAD_EVENTS
    if not mapped and event_type != _ASSET_DELETED:
        return WebhookDelivery(provider=PROVIDER, event_type=event_type, event=None)
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise MalformedWebhook(f"{event_type} needs a data object")
    if _ident(data.get("id")) is None:
        raise MalformedWebhook(f"{event_type} needs data.id")
    occurred_at = _timestamp(envelope.get("created_at")) or now
    event = _webhook_event(event_type, data, delivery_id, occurred_at)
    if event is None:
        log.info("mux %s %s: status changes nothing here", event_type, delivery_id)
    return WebhookDelivery(provider=PROVIDER, event_type=event_type, event=event)


def _webhook_event(
    event_type: str, data: dict[str, Any], delivery_id: str, occurred_at: datetime
) -> ProviderEvent | None:
    """The event of a mapped webhook type; ``data.id`` is known to be a usable id."""
    if event_type == _ASSET_DELETED:
        return _deleted_event(
            str(data["id"]),
            delivery_id=delivery_id,
            event_type=event_type,
            occurred_at=occurred_at,
            upload_id=_ident(data.get("passthrough")),
            provider_upload_id=_ident(data.get("upload_id")),
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


def upload_event(
    data: Mapping[str, Any],
    *,
    delivery_id: str,
    event_type: str,
    occurred_at: datetime,
    upload_id: str | None = None,
) -> ProviderEvent | None:
    """The event a Mux upload object implies, or ``None`` (waiting, or a status we do not know)."""
    settings = data.get("new_asset_settings")
    passthrough = _ident(settings.get("passthrough")) if isinstance(settings, dict) else None
    refs: dict[str, Any] = {
        "upload_id": upload_id or passthrough,
        "provider_upload_id": _ident(data.get("id")),
        "asset_id": _ident(data.get("asset_id")),
    }
    status = data.get("status")
    common: dict[str, Any] = {
        "provider": PROVIDER,
        "delivery_id": delivery_id,
        "occurred_at": occurred_at,
        "event_type": event_type,
    }
    if status == "asset_created":
        return ProviderEvent(kind=ProviderEventKind.PROCESSING, **common, **refs)
    if status in ("cancelled", "timed_out"):
        expired = status == "timed_out"
        return ProviderEvent(
            kind=ProviderEventKind.FAILED,
            failure_code=FailureCode.EXPIRED if expired else FailureCode.CANCELLED,
            failure_reason="the Mux upload timed out"
            if expired
            else "the Mux upload was cancelled",
            **common,
            **refs,
        )
    if status == "errored":
        error = data.get("error")
        error = error if isinstance(error, dict) else {}
        return ProviderEvent(
            kind=ProviderEventKind.FAILED,
            failure_code=_failure_code(error.get("type")),
            failure_reason=_reason(error.get("message"), "the Mux upload failed"),
            **common,
            **refs,
        )
    return None


def asset_event(
    data: Mapping[str, Any],
    *,
    delivery_id: str,
    event_type: str,
    occurred_at: datetime,
    upload_id: str | None = None,
) -> ProviderEvent | None:
    """The event a Mux asset snapshot implies, or ``None`` for a status we do not know."""
    playback_id, public = _playback_id(data.get("playback_ids"))
    refs: dict[str, Any] = {
        "upload_id": upload_id or _ident(data.get("passthrough")),
        "provider_upload_id": _ident(data.get("upload_id")),
        "asset_id": _ident(data.get("id")),
        "playback_id": playback_id,
    }
    aspect_ratio = data.get("aspect_ratio")
    facts: dict[str, Any] = {
        "aspect_ratio": aspect_ratio
        if isinstance(aspect_ratio, str) and 0 < len(aspect_ratio) <= _MAX_ASPECT_RATIO
        else None,
        "thumbnail_url": thumbnail_url(playback_id) if playback_id and public else None,
    }
    common: dict[str, Any] = {
        "provider": PROVIDER,
        "delivery_id": delivery_id,
        "occurred_at": occurred_at,
        "event_type": event_type,
    }
    status = data.get("status")
    duration = _duration(data.get("duration"))
    if status == "ready" and playback_id is not None and duration is not None:
        return ProviderEvent(
            kind=ProviderEventKind.READY, duration=duration, **common, **refs, **facts
        )
    if status in ("preparing", "ready"):
        return ProviderEvent(kind=ProviderEventKind.PROCESSING, **common, **refs, **facts)
    if status == "errored":
        errors = data.get("errors")
        errors = errors if isinstance(errors, dict) else {}
        messages = errors.get("messages")
        text = (
            "; ".join(m for m in messages if isinstance(m, str))
            if isinstance(messages, list)
            else None
        )
        return ProviderEvent(
            kind=ProviderEventKind.FAILED,
            failure_code=_failure_code(errors.get("type")),
            failure_reason=_reason(text, "Mux could not process the video"),
            **common,
            **refs,
        )
    return None


def thumbnail_url(playback_id: str) -> str:
    """The poster image of a public playback id."""
    return f"{IMAGE_BASE}/{_path(playback_id)}/thumbnail.jpg"


def load_signing_key(value: str) -> RSAPrivateKey:
    """An RSA private key from PEM text or base64 of PEM (as Mux hands it out).

    Raises ``ValueError`` without echoing the key.
    """
    text = value.strip()
    pem = text.encode()
    if not text.startswith("-----BEGIN"):
        try:
            pem = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the Mux signing key is neither PEM nor base64 PEM") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ValueError("the Mux signing key is not a readable private key") from None
    if isinstance(key, RSAPrivateKey):
        return key
    raise ValueError("the Mux signing key must be an RSA private key (RS256)")


def _deleted_event(
    asset_id: str,
    *,
    delivery_id: str,
    event_type: str,
    occurred_at: datetime,
    upload_id: str | None,
    provider_upload_id: str | None,
) -> ProviderEvent:
    return ProviderEvent(
        provider=PROVIDER,
        delivery_id=delivery_id,
        kind=ProviderEventKind.FAILED,
        occurred_at=occurred_at,
        upload_id=upload_id,
        provider_upload_id=provider_upload_id,
        asset_id=asset_id,
        failure_code=FailureCode.DELETED,
        failure_reason="the video was deleted at Mux",
        event_type=event_type,
    )


def _data(response: httpx.Response, operation: str) -> dict[str, Any]:
    """The ``data`` object of a Mux answer; a 2xx without one is a provider fault."""
    try:
        body = response.json()
    except ValueError:
        body = None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"mux {operation}: the answer has no data object")
    return data


def _playback_id(value: object) -> tuple[str | None, bool]:
    """The first public playback id, else the first signed one; and whether it is public."""
    if not isinstance(value, list):
        return None, False
    found: dict[str, str] = {}
    for item in value:
        if isinstance(item, dict):
            ident = _ident(item.get("id"))
            policy = item.get("policy")
            if ident and policy in ("public", "signed"):
                found.setdefault(str(policy), ident)
    if "public" in found:
        return found["public"], True
    return found.get("signed"), False


def _failure_code(error_type: object) -> FailureCode:
    return FailureCode.INVALID_FILE if error_type == "invalid_input" else FailureCode.PROVIDER_ERROR


def _reason(value: object, default: str) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()[:_MAX_REASON]
    return default


def _ident(value: object) -> str | None:
    """A usable identifier: a non-empty string of sane length without control characters."""
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_ID:
        return None
    if not value.isprintable():
        return None
    return value


def _duration(value: object) -> float | None:
    seconds = finite_float(value)
    return seconds if seconds is not None and seconds >= 0 else None


def _timestamp(value: object) -> datetime | None:
    """An aware datetime from Mux's ISO 8601 ``created_at``; ``None`` if absent or odd."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _path(segment: str) -> str:
    """One URL path segment, escaped (ids come from outside)."""
    return quote(segment, safe="")
