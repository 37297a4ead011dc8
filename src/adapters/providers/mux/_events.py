"""Mux upload and asset objects → normalized ``ProviderEvent`` s; shared by webhooks and reads.

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
Identifiers without an id's shape (assets created by others may carry anything in
``passthrough``) are dropped rather than rejected: a 4xx would make Mux retry a genuine delivery for
a day. Only a body that is not a Mux event at all is ``MalformedWebhook``.

Thumbnails: ``thumbnail_url`` is set only for a public playback id; a signed one needs a token,
which :meth:`MuxVideoProvider.playback` adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from adapters._numbers import finite_float
from media_core.events import ProviderEvent, ProviderEventKind
from media_core.model import FailureCode
from media_core.strict import plausible_id

PROVIDER: Final = "mux"

IMAGE_BASE: Final = "https://image.mux.com"


_MAX_REASON = 1000

_MAX_ASPECT_RATIO = 20


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
    passthrough = ident(settings.get("passthrough")) if isinstance(settings, dict) else None
    refs: dict[str, Any] = {
        "upload_id": upload_id or passthrough,
        "provider_upload_id": ident(data.get("id")),
        "asset_id": ident(data.get("asset_id")),
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
        "upload_id": upload_id or ident(data.get("passthrough")),
        "provider_upload_id": ident(data.get("upload_id")),
        "asset_id": ident(data.get("id")),
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
    return f"{IMAGE_BASE}/{url_segment(playback_id)}/thumbnail.jpg"


def deleted_event(
    asset_id: str,
    *,
    delivery_id: str,
    event_type: str,
    occurred_at: datetime,
    upload_id: str | None,
    provider_upload_id: str | None,
) -> ProviderEvent:
    """FAILED ``deleted``: the asset is gone at Mux."""
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


def _playback_id(value: object) -> tuple[str | None, bool]:
    """The first public playback id, else the first signed one; and whether it is public."""
    if not isinstance(value, list):
        return None, False
    found: dict[str, str] = {}
    for item in value:
        if isinstance(item, dict):
            found_id = ident(item.get("id"))
            policy = item.get("policy")
            if found_id and policy in ("public", "signed"):
                found.setdefault(str(policy), found_id)
    if "public" in found:
        return found["public"], True
    return found.get("signed"), False


def _failure_code(error_type: object) -> FailureCode:
    return FailureCode.INVALID_FILE if error_type == "invalid_input" else FailureCode.PROVIDER_ERROR


def _reason(value: object, default: str) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()[:_MAX_REASON]
    return default


def ident(value: object) -> str | None:
    """A usable identifier: one with an id's shape (:func:`media_core.strict.plausible_id`)."""
    return value if isinstance(value, str) and plausible_id(value) else None


def _duration(value: object) -> float | None:
    seconds = finite_float(value)
    return seconds if seconds is not None and seconds >= 0 else None


def url_segment(segment: str) -> str:
    """One URL path segment, escaped (ids come from outside)."""
    return quote(segment, safe="")
