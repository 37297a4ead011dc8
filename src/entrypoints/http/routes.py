"""The API's request handlers: thin, they parse, call one use case, and format."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from aiohttp import web
from attrs import frozen

from entrypoints.http.keys import AUTHENTICATOR, LIMITS, SERVICE, VERIFIERS
from entrypoints.http.metrics import METRICS, ServiceMetrics, webhook_rejection_outcome
from entrypoints.http.problems import HttpProblem
from entrypoints.http.schemas import (
    CreateUploadBody,
    created_json,
    page_json,
    parse,
    playback_json,
    upload_json,
)
from media_core.errors import InvalidInput, MalformedWebhook, RateLimited, WebhookRejected
from media_core.model import UploadStatus
from media_core.ports import RateLimiter, WebhookVerifier
from media_core.services import MediaService, RequestUpload, WebhookOutcome
from media_core.strict import MalformedJson, ascii_int, decode_json

log = logging.getLogger("entrypoints.http")

JSON_TYPES = ("application/json", "application/merge-patch+json")
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
WEBHOOK_LIMITER: web.AppKey[RateLimiter] = web.AppKey("webhook_limiter")
"""The per-source-address limiter of the webhook routes; absent means unlimited."""
MAX_PAGE = 100
# Outcome and status texts by lookup: cheaper than .value on the webhook path.
_TEXT: dict[WebhookOutcome | UploadStatus, str] = {
    member: member.value for enum in (WebhookOutcome, UploadStatus) for member in enum
}
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # built once, not per response


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A compact JSON response."""
    return web.Response(
        text=_COMPACT.encode(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refused with 413 past ``limit`` bytes (checked before and while reading)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise HttpProblem("body-too-large", f"the body is over the limit of {limit} bytes")
    content = request.content
    parts: list[bytes] = []
    size = 0
    # With a declared length the parser delivers exactly that many bytes, so the loop ends
    # there rather than asking once more for the end of the stream.
    while size != declared and (chunk := await content.readany()):
        size += len(chunk)
        if size > limit:
            raise HttpProblem("body-too-large", f"the body is over the limit of {limit} bytes")
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def read_json(request: web.Request, limit: int) -> object:
    """The JSON body of a request that must be ``application/json``."""
    if request.content_type not in JSON_TYPES:
        raise HttpProblem("unsupported-content-type")
    body = await read_body(request, limit)
    try:
        return decode_json(body)
    except MalformedJson as exc:
        raise HttpProblem("malformed-json", str(exc)) from None


async def create_upload(request: web.Request) -> web.Response:
    """``POST /api/v1/media/upload/direct``: validate, record, and return where to upload."""
    user = await request.app[AUTHENTICATOR].authenticate(request)
    raw = await read_json(request, request.app[LIMITS].max_body_bytes)
    body = parse(raw, CreateUploadBody)
    slot = await request.app[SERVICE].request_upload(
        user,
        RequestUpload(
            file_name=body.file_name,
            file_size=body.file_size,
            mime_type=body.mime_type,
            title=body.metadata.title,
            description=body.metadata.description,
            visibility=body.metadata.visibility,
            extra=body.metadata.extra,
        ),
        idempotency_key=request.headers.get(IDEMPOTENCY_KEY_HEADER),
    )
    headers = {"Location": f"/api/v1/media/status/{slot.upload.id}"}
    rate = slot.rate
    if rate is not None:
        headers["RateLimit-Limit"] = str(rate.limit)
        headers["RateLimit-Remaining"] = str(rate.remaining)
        headers["RateLimit-Reset"] = str(math.ceil(rate.reset_after))
    if slot.replayed:
        headers["Idempotent-Replayed"] = "true"
    created = created_json(slot.upload, slot.ticket, slot.failover)
    return json_response(created, status=201, headers=headers)


@frozen
class WebhookEndpoint:
    """What the webhook route uses, gathered once at startup (:func:`bind_webhook_endpoint`):
    one lookup per delivery instead of one per dependency."""

    service: MediaService
    verifiers: dict[str, WebhookVerifier]
    limiter: RateLimiter | None
    max_body_bytes: int
    metrics: ServiceMetrics | None


WEBHOOK_ENDPOINT = web.AppKey("webhook_endpoint", WebhookEndpoint)


def bind_webhook_endpoint(app: web.Application) -> None:
    """Gather :class:`WebhookEndpoint` from ``app`` (after its resources have started)."""
    app[WEBHOOK_ENDPOINT] = WebhookEndpoint(
        service=app[SERVICE],
        verifiers=app[VERIFIERS],
        limiter=app.get(WEBHOOK_LIMITER),
        max_body_bytes=app[LIMITS].max_webhook_body_bytes,
        metrics=app.get(METRICS),
    )


async def webhook(request: web.Request) -> web.Response:
    """``POST /api/v1/media/webhook/{name}``: verify on the raw body, apply, then answer 2xx."""
    endpoint = request.app[WEBHOOK_ENDPOINT]
    limiter = endpoint.limiter
    if limiter is not None:
        # Per source address; behind a proxy that is the proxy, so keep the limit generous.
        rate = await limiter.acquire(f"webhook:{request.remote or 'unknown'}")
        if not rate.allowed:
            raise RateLimited(
                "too many webhook deliveries from this address; try again later",
                retry_after=rate.retry_after,
                limit=rate.limit,
                remaining=rate.remaining,
                reset_after=rate.reset_after,
            )
    verifier = endpoint.verifiers.get(request.match_info["name"])
    if verifier is None:
        raise HttpProblem("not-found", "no webhook route by that name is configured")
    body = await read_body(request, endpoint.max_body_bytes)
    metrics = endpoint.metrics
    try:
        outcome, upload = await endpoint.service.receive_webhook(verifier, request.headers, body)
    except WebhookRejected as rejected:
        if metrics is not None:
            metrics.observe_webhook(verifier.provider, webhook_rejection_outcome(rejected))
        # Signed but unusable is a bug at the sender or here: worth a warning, unlike a forgery.
        level = logging.WARNING if isinstance(rejected, MalformedWebhook) else logging.INFO
        log.log(
            level, "webhook %s refused: %s (%s)", verifier.provider, rejected.code, rejected.detail
        )
        raise
    outcome_text = _TEXT[outcome]
    if metrics is not None:
        metrics.observe_webhook(verifier.provider, outcome_text)
    return json_response(
        {
            "outcome": outcome_text,
            "id": upload.id if upload else None,
            "status": _TEXT[upload.status] if upload else None,
        }
    )


async def get_status(request: web.Request) -> web.Response:
    """``GET /api/v1/media/status/{id}``: our id or the playback id; owner only."""
    app = request.app
    user = await app[AUTHENTICATOR].authenticate(request)
    upload = await app[SERVICE].get_status(user, request.match_info["id"])
    return json_response(upload_json(upload))


async def list_uploads(request: web.Request) -> web.Response:
    """``GET /api/v1/media?limit=&cursor=``: the caller's uploads, newest first."""
    user = await request.app[AUTHENTICATOR].authenticate(request)
    limit = ascii_int(request.query.get("limit", "20"))
    if limit is None or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_PAGE}", field="?limit")
    cursor = request.query.get("cursor") or None
    service = request.app[SERVICE]
    page = await service.list_uploads(user, limit=limit, cursor=cursor)
    usage = await service.usage(user)
    return json_response(
        {
            **page_json(page),
            "usage": {
                "bytes": usage.bytes,
                "count": usage.count,
                "maxBytes": service.quota.max_bytes or None,
                "maxUploads": service.quota.max_uploads or None,
            },
        }
    )


async def cancel_upload(request: web.Request) -> web.Response:
    """``POST /api/v1/media/{id}/cancel``: FAILED with code ``cancelled``."""
    user = await request.app[AUTHENTICATOR].authenticate(request)
    upload = await request.app[SERVICE].cancel_upload(user, request.match_info["id"])
    return json_response(upload_json(upload))


async def delete_upload(request: web.Request) -> web.Response:
    """``DELETE /api/v1/media/{id}``: gone here and at the provider."""
    user = await request.app[AUTHENTICATOR].authenticate(request)
    await request.app[SERVICE].delete_upload(user, request.match_info["id"])
    return web.Response(status=204)


async def playback(request: web.Request) -> web.Response:
    """``GET /api/v1/media/{id}/playback``: URLs (signed for PRIVATE) for the owner."""
    user = await request.app[AUTHENTICATOR].authenticate(request)
    result = await request.app[SERVICE].playback(user, request.match_info["id"])
    return json_response(playback_json(result))


async def healthz(_: web.Request) -> web.Response:
    """``GET /healthz``: the process is alive."""
    return json_response({"status": "ok"})
