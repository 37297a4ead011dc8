"""Cloudflare Stream as a ``VideoProvider``: direct creator uploads, reads, delete, signed playback.

Uploads up to ``basic_upload_limit`` bytes (Cloudflare documents "200 MB"; the default is
200,000,000 bytes, the decimal reading, because a file sent by tus when it could have gone by
form costs nothing, while one sent by form over the real cap fails) get a one-time form-POST URL
(``POST /stream/direct_upload``). Larger ones get a tus upload resource
(``POST /stream?direct_user=true``): its URL comes from the ``Location`` header and the video uid
from ``stream-media-id``. Either way the Cloudflare uid is known at creation and is the playback
id from the start. Creates are sent with ``retry=False``: a retried create after a lost answer
would leave a second, orphaned video reserving storage.

Signed playback for PRIVATE uploads (``requireSignedURLs``): when a Stream signing key is
configured, tokens are self-signed RS256 JWTs (``kid`` header, ``sub`` = uid, ``exp``, optional
``accessRules``). That costs no API call per view, so playback neither waits on Cloudflare nor
spends the account's 1,200-requests-per-5-minutes budget, and Cloudflare recommends it beyond
10,000 tokens a day. Without a key, the adapter falls back to ``POST /stream/{uid}/token``, so a
deployment works with the API token alone.

Every call goes through the shared :class:`~adapters.providers._http.HttpPolicy` (timeouts,
bounded jittered retries on 429/5xx honouring ``Retry-After``, 4xx → ``ProviderRejected``). The
API token lives only in the client's headers and the signing key only in this object; neither is
logged, put in a message or shown by ``repr``. Upload URLs are capabilities and are not logged.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.providers._http import HttpPolicy
from adapters.providers.cloudflare._video import (
    PROVIDER,
    UID_PATTERN,
    UPLOAD_ID_META_KEY,
    BadVideo,
    parse_video,
    video_event,
)
from media_core.errors import ProviderRejected, ProviderUnavailable
from media_core.events import ProviderEvent, ProviderEventKind
from media_core.model import FailureCode, MediaUpload, UploadProtocol, UploadStatus, Visibility
from media_core.ports import DirectUploadRequest, DirectUploadTicket, Playback

log = logging.getLogger("adapters.providers.cloudflare")

DEFAULT_BASIC_UPLOAD_LIMIT = 200 * 1000 * 1000
TUS_CHUNK_QUANTUM = 256 * 1024
"""tus chunks must be multiples of 256 KiB (except the last)."""
TUS_MIN_CHUNK = 5 * 1024 * 1024
TUS_MAX_CHUNK = 200 * 1024 * 1024
DEFAULT_TUS_CHUNK = 50 * 1024 * 1024
"""Cloudflare's recommendation for reliable connections: 52,428,800 bytes."""
MAX_DURATION_LIMIT = 36000
MAX_TOKEN_TTL = 24 * 3600
"""Cloudflare accepts signed-URL tokens that expire at most 24 hours after issue."""
MAX_CREATOR_LENGTH = 64
HLS_MIME_TYPE = "application/vnd.apple.mpegurl"

_ACCOUNT_PATTERN = re.compile(r"[A-Za-z0-9]{1,64}")
_HOST_PATTERN = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")


class CloudflareStreamVideoProvider:
    """Cloudflare Stream behind the ``VideoProvider`` port; see the module docstring.

    ``client`` carries ``base_url`` (``https://api.cloudflare.com/client/v4``) and the
    ``Authorization: Bearer <API token>`` header. ``customer_subdomain`` is the playback host
    (``customer-<code>.cloudflarestream.com``, or just ``<code>``); without it the host is read
    from the video's own URLs.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        account_id: str,
        policy: HttpPolicy,
        customer_subdomain: str | None = None,
        allowed_origins: Sequence[str] = (),
        max_duration_seconds: int = 3600,
        upload_expiry_seconds: int = 3600,
        basic_upload_limit: int = DEFAULT_BASIC_UPLOAD_LIMIT,
        signing_key_id: str | None = None,
        signing_key_pem: str | None = None,
        playback_token_ttl_seconds: int = 3600,
        access_rules: Sequence[Mapping[str, Any]] = (),
        tus_chunk_size: int = DEFAULT_TUS_CHUNK,
    ) -> None:
        if not _ACCOUNT_PATTERN.fullmatch(account_id):
            raise ValueError("account_id must be a Cloudflare account id (letters and digits)")
        if not 1 <= max_duration_seconds <= MAX_DURATION_LIMIT:
            raise ValueError(f"max_duration_seconds must be within 1..{MAX_DURATION_LIMIT}")
        if upload_expiry_seconds < 120:
            raise ValueError("upload_expiry_seconds must be at least 120 (Cloudflare's minimum)")
        if basic_upload_limit < 1:
            raise ValueError("basic_upload_limit must be positive")
        if not 1 <= playback_token_ttl_seconds <= MAX_TOKEN_TTL:
            raise ValueError(f"playback_token_ttl_seconds must be within 1..{MAX_TOKEN_TTL}")
        if (
            tus_chunk_size % TUS_CHUNK_QUANTUM
            or not TUS_MIN_CHUNK <= tus_chunk_size <= TUS_MAX_CHUNK
        ):
            raise ValueError(
                "tus_chunk_size must be a multiple of 256 KiB between 5 MiB and 200 MiB"
            )
        if bool(signing_key_id) != bool(signing_key_pem):
            raise ValueError("signing_key_id and signing_key_pem go together")
        self._client = client
        self._account_id = account_id
        self._policy = policy
        self._host = _customer_host(customer_subdomain) if customer_subdomain else None
        self._allowed_origins = tuple(allowed_origins)
        self._max_duration = max_duration_seconds
        self._expiry = timedelta(seconds=upload_expiry_seconds)
        self._basic_limit = basic_upload_limit
        self._key_id = signing_key_id or None
        self._signing_key = _load_signing_key(signing_key_pem) if signing_key_pem else None
        self._token_ttl = timedelta(seconds=playback_token_ttl_seconds)
        self._access_rules = [dict(rule) for rule in access_rules]
        self._chunk_size = tus_chunk_size

    def __repr__(self) -> str:
        signing = "self-signed" if self._signing_key is not None else "token endpoint"
        return (
            f"CloudflareStreamVideoProvider(account_id={self._account_id!r}, "
            f"basic_upload_limit={self._basic_limit}, signing={signing!r})"
        )

    @property
    def name(self) -> str:
        """``cloudflare``."""
        return PROVIDER

    @property
    def basic_upload_limit(self) -> int:
        """The largest file, in bytes, that gets a basic (form POST) upload; tus above."""
        return self._basic_limit

    async def create_direct_upload(self, request: DirectUploadRequest) -> DirectUploadTicket:
        """A form-POST slot up to the basic limit, a tus resource above it."""
        expires_at = request.now + self._expiry
        if request.file_size <= self._basic_limit:
            ticket = await self._create_basic(request, expires_at)
        else:
            ticket = await self._create_tus(request, expires_at)
        log.info(
            "cloudflare upload %s: video %s, protocol %s",
            request.upload_id,
            ticket.provider_upload_id,
            ticket.protocol.value,
        )
        return ticket

    async def _create_basic(
        self, request: DirectUploadRequest, expires_at: datetime
    ) -> DirectUploadTicket:
        body: dict[str, Any] = {
            "maxDurationSeconds": self._max_duration,
            "expiry": _rfc3339(expires_at),
            "requireSignedURLs": _private(request),
            "allowedOrigins": list(self._allowed_origins),
            "meta": {"name": _display_name(request), UPLOAD_ID_META_KEY: request.upload_id},
        }
        creator = _creator(request.owner_id)
        if creator is not None:
            body["creator"] = creator
        response = await self._policy.send(
            self._client,
            "create_direct_upload",
            "POST",
            f"{self._account_path}/direct_upload",
            json=body,
            retry=False,
        )
        result = _result(response, "create_direct_upload")
        url = result.get("uploadURL")
        if not isinstance(url, str) or not url:
            raise ProviderUnavailable("cloudflare create_direct_upload: no uploadURL in the answer")
        uid = _checked_uid(result.get("uid"), "create_direct_upload")
        return DirectUploadTicket(
            provider_upload_id=uid,
            url=url,
            protocol=UploadProtocol.FORM,
            method="POST",
            expires_at=expires_at,
            playback_id=uid,
        )

    async def _create_tus(
        self, request: DirectUploadRequest, expires_at: datetime
    ) -> DirectUploadTicket:
        headers = {
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(request.file_size),
            "Upload-Metadata": self._upload_metadata(request, expires_at),
        }
        creator = _creator(request.owner_id)
        if creator is not None:
            headers["Upload-Creator"] = creator
        response = await self._policy.send(
            self._client,
            "create_tus_upload",
            "POST",
            self._account_path,
            params={"direct_user": "true"},
            headers=headers,
            retry=False,
        )
        location = response.headers.get("location")
        if not location:
            raise ProviderUnavailable(
                "cloudflare create_tus_upload: the answer has no Location header"
            )
        url = str(response.request.url.join(location))
        # Cloudflare advises reading the uid from stream-media-id, not from the URL; the URL's
        # last segment is only a fallback for an answer without the header.
        uid = _checked_uid(
            response.headers.get("stream-media-id") or _last_segment(url), "create_tus_upload"
        )
        return DirectUploadTicket(
            provider_upload_id=uid,
            url=url,
            protocol=UploadProtocol.TUS,
            method="PATCH",
            expires_at=expires_at,
            headers={"Tus-Resumable": "1.0.0"},
            playback_id=uid,
            chunk_size=self._chunk_size,
        )

    def _upload_metadata(self, request: DirectUploadRequest, expires_at: datetime) -> str:
        """tus ``Upload-Metadata``: ``key base64(value)`` pairs joined by commas, no spaces."""
        pairs = [
            ("name", _display_name(request)),
            ("maxDurationSeconds", str(self._max_duration)),
            ("expiry", _rfc3339(expires_at)),
            (UPLOAD_ID_META_KEY, request.upload_id),
        ]
        if self._allowed_origins:
            pairs.append(("allowedorigins", ",".join(self._allowed_origins)))
        items = [f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs]
        if _private(request):
            items.append("requiresignedurls")  # a key without a value: present means true
        return ",".join(items)

    async def fetch_events(self, upload: MediaUpload, now: datetime) -> Sequence[ProviderEvent]:
        """Cloudflare's current view of ``upload`` (nothing while it waits for the bytes).

        A video that is gone (404) fails an upload whose bytes had arrived; one still waiting
        for its bytes is left to the reconciler's expiry, since Cloudflare removes slots that
        expire unused.
        """
        uid = _video_id(upload)
        if uid is None:
            return ()
        response = await self._policy.send(
            self._client, "fetch_video", "GET", self._video_path(uid), allow_statuses=(404,)
        )
        if response.status_code == 404:
            if upload.status is not UploadStatus.PROCESSING:
                return ()
            return (_vanished(upload, uid, now),)
        result = _result(response, "fetch_video")
        try:
            facts = parse_video(result)
            event = video_event(facts, now, upload_id=upload.id)
        except BadVideo as exc:
            raise ProviderUnavailable(f"cloudflare fetch_video: unexpected answer: {exc}") from exc
        if facts.uid != uid:
            raise ProviderUnavailable("cloudflare fetch_video: the answer is about another video")
        return () if event is None else (event,)

    async def check_credentials(self) -> None:
        """One cheap authenticated read (the signing keys); ``ProviderRejected`` if refused."""
        await self._policy.send(
            self._client, "check_credentials", "GET", f"{self._account_path}/keys"
        )

    async def cancel_upload(self, upload: MediaUpload) -> None:
        """Delete the video behind an unfinished upload, which also voids its upload URL."""
        await self._delete(upload, "cancel_upload")

    async def delete_video(self, upload: MediaUpload) -> None:
        """Delete the video; one that is already gone is fine."""
        await self._delete(upload, "delete_video")

    async def _delete(self, upload: MediaUpload, operation: str) -> None:
        uid = _video_id(upload)
        if uid is None:
            return
        await self._policy.send(
            self._client, operation, "DELETE", self._video_path(uid), allow_statuses=(404,)
        )

    async def playback(self, upload: MediaUpload, now: datetime) -> Playback:
        """HLS and thumbnail URLs; for PRIVATE, the uid in them is replaced by a signed token."""
        uid = _video_id(upload)
        if uid is None:
            raise ProviderRejected(f"upload {upload.id} has no Cloudflare video id")
        host = self._host or _host_of(upload.thumbnail_url) or await self._host_from_video(uid)
        if upload.metadata.visibility is not Visibility.PRIVATE:
            return Playback(
                url=_manifest_url(host, uid),
                mime_type=HLS_MIME_TYPE,
                thumbnail_url=_thumbnail_url(host, uid),
            )
        expires_at = now + self._token_ttl
        token = await self._signed_token(uid, expires_at)
        return Playback(
            url=_manifest_url(host, token),
            mime_type=HLS_MIME_TYPE,
            thumbnail_url=_thumbnail_url(host, token),
            token=token,
            thumbnail_token=token,
            expires_at=expires_at,
        )

    async def _signed_token(self, uid: str, expires_at: datetime) -> str:
        exp = int(expires_at.timestamp())
        if self._signing_key is not None and self._key_id is not None:
            claims: dict[str, Any] = {"sub": uid, "kid": self._key_id, "exp": exp}
            if self._access_rules:
                claims["accessRules"] = self._access_rules
            return jwt.encode(
                claims, self._signing_key, algorithm="RS256", headers={"kid": self._key_id}
            )
        body: dict[str, Any] = {"exp": exp}
        if self._access_rules:
            body["accessRules"] = self._access_rules
        response = await self._policy.send(
            self._client, "create_token", "POST", f"{self._video_path(uid)}/token", json=body
        )
        token = _result(response, "create_token").get("token")
        if not isinstance(token, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", token):
            raise ProviderUnavailable("cloudflare create_token: no usable token in the answer")
        return token

    async def _host_from_video(self, uid: str) -> str:
        response = await self._policy.send(
            self._client, "fetch_video", "GET", self._video_path(uid)
        )
        playback = _result(response, "fetch_video").get("playback")
        hls = playback.get("hls") if isinstance(playback, dict) else None
        host = _host_of(hls if isinstance(hls, str) else None)
        if host is None:
            raise ProviderUnavailable(
                "cloudflare fetch_video: no playback URL yet; set the customer subdomain"
            )
        return host

    @property
    def _account_path(self) -> str:
        return f"/accounts/{self._account_id}/stream"

    def _video_path(self, uid: str) -> str:
        return f"{self._account_path}/{uid}"


def _private(request: DirectUploadRequest) -> bool:
    return request.metadata.visibility is Visibility.PRIVATE


def _display_name(request: DirectUploadRequest) -> str:
    return request.metadata.title or request.file_name


def _creator(owner_id: str) -> str | None:
    """Cloudflare's ``creator`` holds at most 64 characters; a longer owner id is left out."""
    return owner_id if 0 < len(owner_id) <= MAX_CREATOR_LENGTH else None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stored_playback(upload: MediaUpload) -> Playback | None:
    """Public playback built from what the upload stores alone (its uid, and the customer host
    in its thumbnail URL), with no call: how an upload is played once Cloudflare is no longer
    configured. None for PRIVATE (its token needs Cloudflare) or without the ids."""
    if upload.metadata.visibility is Visibility.PRIVATE:
        return None
    uid = upload.playback_id or upload.provider_upload_id
    host = _host_of(upload.thumbnail_url)
    if uid is None or host is None or not UID_PATTERN.fullmatch(uid):
        return None
    return Playback(
        url=_manifest_url(host, uid),
        mime_type=HLS_MIME_TYPE,
        thumbnail_url=_thumbnail_url(host, uid),
    )


def _video_id(upload: MediaUpload) -> str | None:
    uid = upload.playback_id or upload.provider_upload_id
    if uid is None:
        return None
    if not UID_PATTERN.fullmatch(uid):
        raise ProviderRejected(f"upload {upload.id} has an id Cloudflare never issued")
    return uid


def _checked_uid(value: object, operation: str) -> str:
    if not isinstance(value, str) or not UID_PATTERN.fullmatch(value):
        raise ProviderUnavailable(f"cloudflare {operation}: no usable video uid in the answer")
    return value


def _last_segment(url: str) -> str | None:
    segment = urlsplit(url).path.rstrip("/").rpartition("/")[2]
    return segment or None


def _result(response: httpx.Response, operation: str) -> dict[str, Any]:
    """The ``result`` object of Cloudflare's ``{success, errors, messages, result}`` envelope."""
    try:
        data = response.json()
    except ValueError as exc:
        raise ProviderUnavailable(f"cloudflare {operation}: the answer is not JSON") from exc
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"cloudflare {operation}: the answer is not a JSON object")
    if data.get("success") is False:
        raise ProviderRejected(f"cloudflare {operation}: refused: {_errors(data.get('errors'))}")
    result = data.get("result")
    if not isinstance(result, dict):
        raise ProviderUnavailable(f"cloudflare {operation}: the answer has no result object")
    return result


def _errors(errors: object) -> str:
    if not isinstance(errors, list):
        return "no details"
    parts = [
        f"{item.get('code')}: {str(item.get('message'))[:200]}"
        for item in errors[:5]
        if isinstance(item, dict)
    ]
    return "; ".join(parts) or "no details"


def _vanished(upload: MediaUpload, uid: str, now: datetime) -> ProviderEvent:
    return ProviderEvent(
        provider=PROVIDER,
        delivery_id=f"cf-gone-{uid}",
        kind=ProviderEventKind.FAILED,
        occurred_at=now,
        upload_id=upload.id,
        provider_upload_id=uid,
        playback_id=uid,
        failure_code=FailureCode.DELETED,
        failure_reason="the video no longer exists at Cloudflare",
        event_type="video.missing",
    )


def _customer_host(value: str) -> str:
    """``customer-<code>.cloudflarestream.com`` from a host, URL, ``customer-<code>`` or code."""
    text = value.strip().lower()
    if "://" in text:
        text = urlsplit(text).netloc
    text = text.strip("/")
    if "." not in text:
        text = text if text.startswith("customer-") else f"customer-{text}"
        text = f"{text}.cloudflarestream.com"
    if not _HOST_PATTERN.fullmatch(text):
        raise ValueError(
            "customer_subdomain must be a host such as customer-abc.cloudflarestream.com"
        )
    return text


def _host_of(url: str | None) -> str | None:
    if not url or not url.startswith("https://"):
        return None
    host = urlsplit(url).netloc.lower()
    return host if _HOST_PATTERN.fullmatch(host) else None


def _manifest_url(host: str, path_id: str) -> str:
    return f"https://{host}/{path_id}/manifest/video.m3u8"


def _thumbnail_url(host: str, path_id: str) -> str:
    return f"https://{host}/{path_id}/thumbnails/thumbnail.jpg"


def _load_signing_key(pem: str) -> rsa.RSAPrivateKey:
    """The RSA key from PEM text or from the base64 of it (as Cloudflare's API returns it).

    Messages never quote the key.
    """
    text = pem.strip()
    if not text.startswith("-----BEGIN"):
        try:
            text = base64.b64decode("".join(text.split()), validate=True).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            raise ValueError("signing_key_pem is neither PEM nor base64-encoded PEM") from None
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("signing_key_pem is not a readable, unencrypted private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("signing_key_pem must be an RSA private key (Stream signs RS256)")
    return key
