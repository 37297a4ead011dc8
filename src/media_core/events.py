"""Events in and out of the core.

``ProviderEvent`` is what every provider adapter turns a webhook (or a reconciliation read) into:
one normalized shape, whatever the vendor. ``DomainEvent`` subclasses are what the core tells the
host application after a change was stored.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs
from attrs import frozen

from media_core.model import FailureCode, MediaUpload, UploadStatus
from media_core.policy import sanitize_text
from media_core.strict import plausible_id, storable


class ProviderEventKind(enum.Enum):
    """What a provider says happened; each kind moves an upload towards one status."""

    PROCESSING = "processing"
    """The bytes arrived and the provider is processing them, optionally with a progress figure."""
    READY = "ready"
    """The video can be played; carries its duration and playback id."""
    FAILED = "failed"
    """The upload or its processing failed for good."""

    @property
    def target(self) -> UploadStatus:
        """The status this kind of event moves an upload to."""
        return {
            ProviderEventKind.PROCESSING: UploadStatus.PROCESSING,
            ProviderEventKind.READY: UploadStatus.READY,
            ProviderEventKind.FAILED: UploadStatus.FAILED,
        }[self]


def _optional_progress(
    _: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and not 0 <= value <= 100:
        raise ValueError(f"{attribute.name} must be within 0..100, got {value}")


def _reference(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not plausible_id(value):
        raise ValueError(f"{attribute.name} does not have the shape of an id")


def _storable(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not storable(value):
        raise ValueError(f"{attribute.name} holds NUL or a lone surrogate")


def _reason(value: str | None) -> str | None:
    # A provider's message is shown to users like their own text, and cleaned the same way.
    return None if value is None else sanitize_text(value, multiline=True)


@frozen
class ProviderEvent:
    """A provider's statement about one upload, normalized.

    ``delivery_id`` identifies the delivery for de-duplication within ``provider`` (Mux's event id,
    a content hash for Cloudflare). At least one of the four references must be set; the repository
    looks the upload up by the first one it knows. Every reference must have an id's shape
    (:func:`~media_core.strict.plausible_id`), every text must be storable (no NUL, no lone
    surrogate), and the failure reason is cleaned like user text: ``ValueError`` otherwise, which
    an adapter reports as a malformed delivery.
    """

    provider: str
    delivery_id: str = attrs.field(validator=_storable)
    kind: ProviderEventKind
    occurred_at: datetime
    upload_id: str | None = attrs.field(default=None, validator=_reference)
    provider_upload_id: str | None = attrs.field(default=None, validator=_reference)
    asset_id: str | None = attrs.field(default=None, validator=_reference)
    playback_id: str | None = attrs.field(default=None, validator=_reference)
    progress: int | None = attrs.field(default=None, validator=_optional_progress)
    duration: float | None = None
    thumbnail_url: str | None = attrs.field(default=None, validator=_storable)
    aspect_ratio: str | None = attrs.field(default=None, validator=_storable)
    failure_code: FailureCode | None = None
    failure_reason: str | None = attrs.field(default=None, converter=_reason)
    event_type: str = attrs.field(default="", validator=_storable)
    """The provider's own name for the event (``video.asset.ready``), for logs and metrics."""

    def __attrs_post_init__(self) -> None:
        if not any((self.upload_id, self.provider_upload_id, self.asset_id, self.playback_id)):
            raise ValueError("a provider event must reference its upload")
        if self.kind is ProviderEventKind.READY and (
            self.duration is None or self.duration < 0 or self.playback_id is None
        ):
            raise ValueError("a READY event needs a duration and a playback id")
        if self.kind is ProviderEventKind.FAILED and self.failure_code is None:
            raise ValueError("a FAILED event needs a failure code")


@frozen
class DomainEvent:
    """Something that happened to an upload; ``upload`` is the record as stored after it."""

    upload: MediaUpload
    occurred_at: datetime

    @property
    def name(self) -> str:
        """A stable name for the event, such as ``upload.ready``."""
        return _NAMES[type(self)]


@frozen
class UploadRequested(DomainEvent):
    """A user was given an upload slot."""


@frozen
class UploadProcessing(DomainEvent):
    """The provider received the bytes and began processing."""


@frozen
class UploadProgressed(DomainEvent):
    """Processing progress moved forward."""


@frozen
class UploadReady(DomainEvent):
    """The video can be played."""


@frozen
class UploadFailed(DomainEvent):
    """The upload ended without a playable video (including cancellation and expiry)."""


@frozen
class UploadDeleted(DomainEvent):
    """The upload and its video were deleted."""


@frozen
class UploadFailedOver(DomainEvent):
    """A new upload went to ``upload.provider`` because ``from_provider``, the provider its
    selector preferred, could not take it (``reason``); published before ``UploadRequested``."""

    from_provider: str
    reason: str


_NAMES: dict[type[DomainEvent], str] = {
    UploadRequested: "upload.requested",
    UploadProcessing: "upload.processing",
    UploadProgressed: "upload.progressed",
    UploadReady: "upload.ready",
    UploadFailed: "upload.failed",
    UploadDeleted: "upload.deleted",
    UploadFailedOver: "upload.failed_over",
}
