"""The upload record and its value objects: frozen, validated at construction, no I/O."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs
from attrs import frozen


class UploadStatus(enum.Enum):
    """Where an upload is in its life: UPLOADING → PROCESSING → READY or FAILED."""

    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """READY and FAILED never change again."""
        return self in (UploadStatus.READY, UploadStatus.FAILED)

    @property
    def rank(self) -> int:
        """Position in the one-way order of states; both terminal states share the last rank."""
        return _RANK[self]


_RANK = {
    UploadStatus.UPLOADING: 0,
    UploadStatus.PROCESSING: 1,
    UploadStatus.READY: 2,
    UploadStatus.FAILED: 2,
}


class Visibility(enum.Enum):
    """Who may watch: PUBLIC and UNLISTED play from public URLs, PRIVATE needs signed playback."""

    PUBLIC = "PUBLIC"
    UNLISTED = "UNLISTED"
    PRIVATE = "PRIVATE"


class UploadProtocol(enum.Enum):
    """How the client sends the bytes to the upload URL."""

    PUT = "put"
    """One PUT of the whole file, or chunked PUTs with ``Content-Range`` where allowed."""
    FORM = "form"
    """A ``multipart/form-data`` POST with the file in the ``file`` field (Cloudflare basic)."""
    TUS = "tus"
    """The tus 1.0 resumable protocol; the URL is the upload resource."""


class FailureCode(enum.Enum):
    """Why an upload failed, as a stable code; the reason text is for people."""

    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PROVIDER_ERROR = "provider_error"
    INVALID_FILE = "invalid_file"
    SIZE_MISMATCH = "size_mismatch"
    TYPE_MISMATCH = "type_mismatch"
    DELETED = "deleted"


@frozen
class UploadMetadata:
    """Sanitized user metadata; build it with :func:`media_core.policy.sanitize_metadata`."""

    title: str = ""
    description: str = ""
    visibility: Visibility = Visibility.PRIVATE
    extra: dict[str, str] = attrs.field(factory=dict)


def _progress(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 100:
        raise ValueError(f"{attribute.name} must be within 0..100, got {value}")


@frozen
class MediaUpload:
    """One user's upload, from the request for an upload slot to its final state.

    ``version`` increases by one with every stored change (optimistic concurrency).
    ``playback_id`` stays ``None`` until the provider assigns one.
    """

    id: str
    owner_id: str
    provider: str
    file_name: str
    file_size: int
    mime_type: str
    metadata: UploadMetadata
    created_at: datetime
    updated_at: datetime
    status: UploadStatus = UploadStatus.UPLOADING
    progress: int = attrs.field(default=0, validator=_progress)
    provider_upload_id: str | None = None
    provider_asset_id: str | None = None
    playback_id: str | None = None
    upload_expires_at: datetime | None = None
    duration: float | None = None
    thumbnail_url: str | None = None
    aspect_ratio: str | None = None
    failure_code: FailureCode | None = None
    failure_reason: str | None = None
    ready_at: datetime | None = None
    uploaded_at: datetime | None = None
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.status is UploadStatus.READY and (
            self.duration is None or self.playback_id is None
        ):
            raise ValueError("a READY upload needs a duration and a playback id")
        if self.status is UploadStatus.FAILED and self.failure_code is None:
            raise ValueError("a FAILED upload needs a failure code")

    @property
    def is_terminal(self) -> bool:
        """True once READY or FAILED."""
        return self.status.is_terminal

    def outcome(self) -> dict[str, Any]:
        """The fields that define where an upload ended, for comparing final states.

        A READY upload is defined by what the READY event carried; a FAILED one by its failure
        code alone (what was known before the failure depends on delivery order, and no longer
        matters once nothing can be played).
        """
        if self.status is UploadStatus.READY:
            return {
                "status": self.status,
                "playback_id": self.playback_id,
                "duration": self.duration,
                "thumbnail_url": self.thumbnail_url,
                "progress": self.progress,
            }
        if self.status is UploadStatus.FAILED:
            return {"status": self.status, "failure_code": self.failure_code}
        return {"status": self.status, "progress": self.progress}


@frozen
class Page:
    """A page of uploads, newest first; ``next_cursor`` is ``None`` on the last page."""

    items: tuple[MediaUpload, ...]
    next_cursor: str | None
