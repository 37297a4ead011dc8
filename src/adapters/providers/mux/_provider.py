"""Mux Video: direct uploads, verified webhooks, reconciliation reads, cancel/delete, playback.

:class:`MuxVideoProvider` implements ``media_core.ports.VideoProvider`` over an
``httpx.AsyncClient`` that already carries ``base_url`` (``https://api.mux.com``) and Basic auth
(token id and secret); every call goes through :class:`adapters.providers._http.HttpPolicy`.
:class:`~adapters.providers.mux.MuxWebhookVerifier` (``_webhooks``) implements ``WebhookVerifier``
for the Mux route; both map Mux objects to events with ``_events``.

PRIVATE playback without a signing key: :meth:`MuxVideoProvider.playback` raises
``Conflict`` (HTTP 409 as problem+json) that names the missing settings; the key is
checked once at construction, so a bad key fails at start, not at the first viewer.

Secrets (API token, webhook secrets, signing key) are never logged nor put in an error message.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from adapters.providers._http import HttpPolicy
from adapters.providers.mux._events import (
    IMAGE_BASE,
    PROVIDER,
    asset_event,
    deleted_event,
    ident,
    upload_event,
    url_segment,
)
from media_core.errors import Conflict, ProviderUnavailable
from media_core.events import ProviderEvent
from media_core.model import MediaUpload, UploadProtocol, Visibility
from media_core.ports import DirectUploadRequest, DirectUploadTicket, Playback

log = logging.getLogger("adapters.providers.mux")

STREAM_BASE: Final = "https://stream.mux.com"

HLS_MIME_TYPE: Final = "application/vnd.apple.mpegurl"

CHUNK_QUANTUM: Final = 256 * 1024
"""Mux wants every chunk but the last of a Content-Range PUT upload to be a multiple of 256 KiB."""

DEFAULT_CHUNK_SIZE: Final = 64 * CHUNK_QUANTUM  # 16 MiB

MAX_PASSTHROUGH: Final = 255


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
        upload_id = ident(data.get("id"))
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
            asset_id = ident(data.get("asset_id"))
            if asset_id is None:
                return events
        response = await self._policy.send(
            self._client,
            "get_asset",
            "GET",
            f"/video/v1/assets/{url_segment(asset_id)}",
            allow_statuses=(404,),
        )
        if response.status_code == 404:
            events.append(
                deleted_event(
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

    async def check_credentials(self) -> None:
        """One cheap authenticated read (list one upload); ``ProviderRejected`` if refused."""
        await self._policy.send(
            self._client, "check_credentials", "GET", "/video/v1/uploads", params={"limit": 1}
        )

    async def cancel_upload(self, upload: MediaUpload) -> None:
        """Cancel the direct upload; if Mux already made an asset of it, delete that asset.

        Mux refuses (403) to cancel an upload that is no longer waiting; an asset it made would
        otherwise be orphaned, since our record is final. Gone (404) is not an error.
        """
        if upload.provider_upload_id is None:
            if upload.provider_asset_id is not None:
                await self._delete_asset(upload.provider_asset_id)
            return
        path = f"/video/v1/uploads/{url_segment(upload.provider_upload_id)}/cancel"
        response = await self._policy.send(
            self._client, "cancel_upload", "PUT", path, allow_statuses=(403, 404)
        )
        if response.status_code != 403:
            return
        data = await self._get_upload(upload.provider_upload_id)
        asset_id = ident(data.get("asset_id")) if data else None
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
        quoted = url_segment(playback_id)
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
            f"/video/v1/uploads/{url_segment(provider_upload_id)}",
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
            f"/video/v1/assets/{url_segment(asset_id)}",
            allow_statuses=(404,),
        )


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


def stored_playback(upload: MediaUpload) -> Playback | None:
    """Public playback built from the stored playback id alone, with no call: how an upload is
    played once Mux is no longer configured. None for PRIVATE (its tokens need the signing
    key) or before Mux assigned a playback id."""
    playback_id = upload.playback_id
    if playback_id is None or upload.metadata.visibility is Visibility.PRIVATE:
        return None
    quoted = url_segment(playback_id)
    return Playback(
        url=f"{STREAM_BASE}/{quoted}.m3u8",
        mime_type=HLS_MIME_TYPE,
        thumbnail_url=f"{IMAGE_BASE}/{quoted}/thumbnail.jpg",
    )
