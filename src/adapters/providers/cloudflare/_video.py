"""Cloudflare's video object → one normalized ``ProviderEvent``; shared by webhooks and reads.

Cloudflare sends the same video object in its webhook body and in ``GET /stream/{uid}``, so one
parser serves both. How its fields map::

    status.state pendingupload                      → no event (nothing was uploaded yet)
    status.state error                              → FAILED (errorReasonCode → failure code)
    readyToStream true and a known duration         → READY (playable in at least one quality)
    downloading / queued / inprogress / ready (not yet playable)
                                                    → PROCESSING, progress from status.pctComplete

``pctComplete`` is a string (``"39.000000"``); one that is not a number is treated as unknown
rather than as a broken body, because it is advisory and Cloudflare's own examples vary. Fields
of the wrong JSON type, a missing or unsafe ``uid`` and unknown states are refused.

Cloudflare sends no event id, so :func:`delivery_id` hashes the *meaningful* fields (uid, state,
readiness, progress, duration, error code) rather than the raw body: a redelivery that differs
only in volatile fields (``modified``, key order, whitespace) is still recognized as the same
delivery, and a reconciler read that saw the same facts as a webhook shares its delivery id.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import frozen

from adapters._numbers import finite_float
from media_core.events import ProviderEvent, ProviderEventKind
from media_core.model import FailureCode

PROVIDER = "cloudflare"
UPLOAD_ID_META_KEY = "mediaCoreUploadId"
"""The ``meta`` key that carries our upload id (set at creation, returned on every read)."""

STATES = frozenset({"pendingupload", "downloading", "queued", "inprogress", "ready", "error"})
UID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a Cloudflare uid may look like; it goes into URL paths, so nothing else is accepted."""

_INVALID_FILE_CODES = frozenset(
    {
        "ERR_NON_VIDEO",
        "ERR_MALFORMED_VIDEO",
        "ERR_DURATION_TOO_SHORT",
        "ERR_DURATION_EXCEED_CONSTRAINT",
    }
)
_MAX_ID = 200
_MAX_TEXT = 2000


class BadVideo(ValueError):
    """The video object is not what Cloudflare sends; callers translate it at their boundary."""


@frozen
class VideoFacts:
    """The fields of one Cloudflare video object that media-core cares about, validated."""

    uid: str
    state: str
    ready_to_stream: bool
    progress: int | None
    duration: float | None
    thumbnail_url: str | None
    hls_url: str | None
    upload_id: str | None
    error_code: str | None
    error_text: str | None
    aspect_ratio: str | None
    modified: datetime | None


def parse_video(data: object) -> VideoFacts:
    """Validate a decoded video object; raise :class:`BadVideo` if its shape is wrong."""
    if not isinstance(data, dict):
        raise BadVideo("the video object must be a JSON object")
    uid = data.get("uid")
    if not isinstance(uid, str) or not UID_PATTERN.fullmatch(uid):
        raise BadVideo("uid must be a Cloudflare video id")
    status = data.get("status")
    if not isinstance(status, dict):
        raise BadVideo("status must be an object")
    state = status.get("state")
    if not isinstance(state, str) or state not in STATES:
        raise BadVideo(f"status.state must be one of {', '.join(sorted(STATES))}")
    ready = data.get("readyToStream")
    if ready is not None and not isinstance(ready, bool):
        raise BadVideo("readyToStream must be a boolean")
    # The API reference nests errorReasonCode/Text in status; the webhook guide's example
    # spells them errReasonCode/Text. Accept both spellings, in status or at the top level.
    error_code = _first_text(status, data, ("errorReasonCode", "errReasonCode"), _MAX_ID)
    error_text = _first_text(status, data, ("errorReasonText", "errReasonText"), _MAX_TEXT)
    return VideoFacts(
        uid=uid,
        state=state,
        ready_to_stream=bool(ready),
        progress=_percent(status.get("pctComplete")),
        duration=_duration(data.get("duration")),
        thumbnail_url=_https_url(data.get("thumbnail"), "thumbnail"),
        hls_url=_https_url(_object(data, "playback").get("hls"), "playback.hls"),
        upload_id=_upload_id(_object(data, "meta")),
        error_code=error_code,
        error_text=error_text,
        aspect_ratio=_aspect_ratio(_object(data, "input")),
        modified=_timestamp(data.get("modified")),
    )


def video_event(
    facts: VideoFacts, now: datetime, *, upload_id: str | None = None
) -> ProviderEvent | None:
    """The event ``facts`` amount to, or ``None`` while Cloudflare still waits for the bytes.

    ``upload_id`` is our id when the caller knows it better than ``meta`` does (a reconciler
    read); it does not enter the delivery id.
    """
    kind = _kind(facts)
    if kind is None:
        return None
    failure_code = None
    failure_reason = None
    if kind is ProviderEventKind.FAILED:
        failure_code = (
            FailureCode.INVALID_FILE
            if facts.error_code in _INVALID_FILE_CODES
            else FailureCode.PROVIDER_ERROR
        )
        failure_reason = _failure_reason(facts)
    ready = kind is ProviderEventKind.READY
    try:
        return ProviderEvent(
            provider=PROVIDER,
            delivery_id=delivery_id(facts),
            kind=kind,
            occurred_at=facts.modified or now,
            upload_id=upload_id or facts.upload_id,
            provider_upload_id=facts.uid,
            playback_id=facts.uid,
            progress=100 if ready else facts.progress,
            duration=facts.duration,
            thumbnail_url=facts.thumbnail_url,
            aspect_ratio=facts.aspect_ratio,
            failure_code=failure_code,
            failure_reason=failure_reason,
            event_type=f"video.{facts.state}",
        )
    except ValueError as exc:  # the event's own invariants; parse_video should prevent this
        raise BadVideo(str(exc)) from exc


def delivery_id(facts: VideoFacts) -> str:
    """A stable id for the facts a delivery states (see the module docstring)."""
    meaningful = {
        "uid": facts.uid,
        "state": facts.state,
        "ready": facts.ready_to_stream,
        "progress": facts.progress,
        "duration": facts.duration,
        "error": facts.error_code,
    }
    canonical = json.dumps(meaningful, sort_keys=True, separators=(",", ":"))
    return "cf-" + hashlib.sha256(canonical.encode()).hexdigest()


def _kind(facts: VideoFacts) -> ProviderEventKind | None:
    if facts.state == "pendingupload":
        return None
    if facts.state == "error":
        return ProviderEventKind.FAILED
    if facts.ready_to_stream and facts.duration is not None:
        return ProviderEventKind.READY
    return ProviderEventKind.PROCESSING


def _failure_reason(facts: VideoFacts) -> str:
    text = facts.error_text or "Cloudflare could not process the video"
    reason = f"{text} ({facts.error_code})" if facts.error_code else text
    return reason[:_MAX_TEXT]


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadVideo(f"{key} must be an object")
    return value


def _first_text(
    primary: Mapping[str, Any], secondary: Mapping[str, Any], keys: tuple[str, ...], limit: int
) -> str | None:
    for source in (primary, secondary):
        for key in keys:
            value = source.get(key)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise BadVideo(f"{key} must be a string")
            return value[:limit]
    return None


def _percent(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadVideo("status.pctComplete must be a string or a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None  # advisory; see the module docstring
    if not math.isfinite(number) or not 0 <= number <= 100:
        return None
    return math.floor(number)


def _duration(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadVideo("duration must be a number of seconds")
    seconds = finite_float(value)
    if seconds is None:
        raise BadVideo("duration must be finite")
    return seconds if seconds >= 0 else None  # -1 means unknown


def _https_url(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadVideo(f"{name} must be a string")
    if len(value) > _MAX_TEXT or not value.startswith("https://"):
        return None  # not a URL we would hand to a browser
    return value


def _upload_id(meta: Mapping[str, Any]) -> str | None:
    # tus Upload-Metadata keys may come back lower-cased; accept both spellings.
    for key in (UPLOAD_ID_META_KEY, UPLOAD_ID_META_KEY.lower()):
        value = meta.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > _MAX_ID:
            raise BadVideo(f"meta.{UPLOAD_ID_META_KEY} must be a string of at most {_MAX_ID}")
        return value
    return None


def _aspect_ratio(size: Mapping[str, Any]) -> str | None:
    width, height = size.get("width"), size.get("height")
    if not (isinstance(width, int) and isinstance(height, int)):
        return None
    if isinstance(width, bool) or isinstance(height, bool) or width <= 0 or height <= 0:
        return None
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    # Cloudflare writes up to nanoseconds; Python reads at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
