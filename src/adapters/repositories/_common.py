"""What every repository adapter shares: the listing cursor and the checks on stored uploads."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

import attrs

from media_core.errors import InvalidInput
from media_core.model import MediaUpload, UploadStatus
from media_core.ports import StaleCriteria
from media_core.strict import plausible_id

TIMESTAMPS = ("created_at", "updated_at", "upload_expires_at", "ready_at", "uploaded_at")
"""The upload's timestamp fields: every one stored as an aware instant (None where unset)."""


def encode_cursor(created_at: datetime, upload_id: str) -> str:
    """An opaque cursor that resumes a listing after the upload (``created_at``, ``upload_id``)."""
    raw = json.dumps([created_at.astimezone(UTC).isoformat(), upload_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; ``InvalidInput`` if the client made it up or mangled it."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, upload_id = json.loads(raw)
        position = datetime.fromisoformat(created_at)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidInput("the listing cursor is not valid", field="?cursor") from exc
    if position.tzinfo is None or not isinstance(upload_id, str) or not plausible_id(upload_id):
        raise InvalidInput("the listing cursor is not valid", field="?cursor")
    return position, upload_id


def check_limit(limit: int) -> None:
    """Refuse a page size below one (the HTTP layer bounds the upper end)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


def require_aware(upload: MediaUpload) -> None:
    """``ValueError`` if a timestamp of ``upload`` is naive: its instant is unknown."""
    for name in TIMESTAMPS:
        value: datetime | None = getattr(upload, name)
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def normalized(upload: MediaUpload) -> MediaUpload:
    """``upload`` as a store keeps it: timestamps in UTC, no mutable state shared with the caller.

    Raises ``ValueError`` on a naive timestamp: every stored time is an aware instant.
    """
    require_aware(upload)
    changes: dict[str, Any] = {}
    for name in TIMESTAMPS:
        value: datetime | None = getattr(upload, name)
        if value is not None:
            changes[name] = value.astimezone(UTC)
    metadata = attrs.evolve(upload.metadata, extra=dict(upload.metadata.extra))
    return attrs.evolve(upload, metadata=metadata, **changes)


def is_stale(upload: MediaUpload, criteria: StaleCriteria) -> bool:
    """True if ``upload`` is one the reconciler should look at (leases aside); see
    :class:`media_core.ports.StaleCriteria`.
    """
    if upload.status is UploadStatus.PROCESSING:
        return upload.updated_at < criteria.processing_before
    if upload.status is not UploadStatus.UPLOADING:
        return False
    return (
        (upload.provider_upload_id is None and upload.created_at < criteria.pending_before)
        or (upload.upload_expires_at is not None and upload.upload_expires_at <= criteria.now)
        or upload.updated_at < criteria.uploading_before
    )
