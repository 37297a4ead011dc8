"""The upload state machine: pure functions from (upload, input, time) to (upload, events).

UPLOADING → PROCESSING → READY, and any non-terminal state → FAILED. The rules, each proven by the
hypothesis suite in ``tests/unit/test_state_machine_properties.py``:

1. READY and FAILED are terminal: nothing changes them.
2. Progress never decreases; READY is 100.
3. A READY upload always has a duration and a playback id (the model refuses anything else).
4. A duplicate or late event (one whose target state is behind the current one) changes nothing
   but facts the upload did not know yet (asset id, playback id, a higher progress).
5. Hence any order of the same deliveries that contains the final event ends in the same outcome.
6. A change is the next version (``version`` one more) and its events carry it; a no-op returns
   the very upload it was given.

Events are ordered by the state they lead to, not by their timestamps: providers' clocks and
retries make timestamps an unreliable order, while the state order is exactly what the product
promises.
"""

from __future__ import annotations

from datetime import datetime

import attrs
from attrs import frozen

from media_core.errors import NotCancellable
from media_core.events import (
    DomainEvent,
    ProviderEvent,
    ProviderEventKind,
    UploadFailed,
    UploadProcessing,
    UploadProgressed,
    UploadReady,
)
from media_core.model import FailureCode, MediaUpload, UploadStatus


@frozen
class Transition:
    """The result of applying an input: the new upload and the domain events it caused.

    ``changed`` is false when the input was a no-op (duplicate, late, or after the end), and
    ``upload`` is then the very input. When it is true, ``upload`` is the next version (its
    ``version`` one more), ready to store, and the events carry that same object.
    """

    upload: MediaUpload
    events: tuple[DomainEvent, ...]
    changed: bool


def _unchanged(upload: MediaUpload) -> Transition:
    return Transition(upload=upload, events=(), changed=False)


def apply_event(upload: MediaUpload, event: ProviderEvent, now: datetime) -> Transition:
    """Apply one normalized provider event to ``upload`` at time ``now``."""
    if upload.is_terminal:
        return _unchanged(upload)
    if event.kind is ProviderEventKind.READY:
        return _finish_ready(upload, event, now)
    if event.kind is ProviderEventKind.FAILED:
        assert event.failure_code is not None  # guaranteed by ProviderEvent
        return fail(upload, event.failure_code, event.failure_reason or "", now, event=event)
    return _processing(upload, event, now)


def _processing(upload: MediaUpload, event: ProviderEvent, now: datetime) -> Transition:
    progress = max(upload.progress, event.progress or 0)
    provider_upload_id = upload.provider_upload_id or event.provider_upload_id
    provider_asset_id = upload.provider_asset_id or event.asset_id
    playback_id = upload.playback_id or event.playback_id
    aspect_ratio = upload.aspect_ratio or event.aspect_ratio
    uploaded_at = upload.uploaded_at or now
    if (
        upload.status is UploadStatus.PROCESSING
        and progress == upload.progress
        and provider_upload_id == upload.provider_upload_id
        and provider_asset_id == upload.provider_asset_id
        and playback_id == upload.playback_id
        and aspect_ratio == upload.aspect_ratio
        and uploaded_at == upload.uploaded_at
    ):
        return _unchanged(upload)
    updated = attrs.evolve(
        upload,
        status=UploadStatus.PROCESSING,
        progress=progress,
        provider_upload_id=provider_upload_id,
        provider_asset_id=provider_asset_id,
        playback_id=playback_id,
        aspect_ratio=aspect_ratio,
        uploaded_at=uploaded_at,
        updated_at=now,
        version=upload.version + 1,
    )
    events: list[DomainEvent] = []
    if upload.status is UploadStatus.UPLOADING:
        events.append(UploadProcessing(upload=updated, occurred_at=now))
    if progress > upload.progress:
        events.append(UploadProgressed(upload=updated, occurred_at=now))
    return Transition(upload=updated, events=tuple(events), changed=True)


def _finish_ready(upload: MediaUpload, event: ProviderEvent, now: datetime) -> Transition:
    updated = attrs.evolve(
        upload,
        status=UploadStatus.READY,
        progress=100,
        provider_upload_id=upload.provider_upload_id or event.provider_upload_id,
        provider_asset_id=event.asset_id or upload.provider_asset_id,
        playback_id=event.playback_id,
        duration=event.duration,
        thumbnail_url=event.thumbnail_url or upload.thumbnail_url,
        aspect_ratio=event.aspect_ratio or upload.aspect_ratio,
        uploaded_at=upload.uploaded_at or now,
        ready_at=now,
        updated_at=now,
        version=upload.version + 1,
    )
    return Transition(
        upload=updated, events=(UploadReady(upload=updated, occurred_at=now),), changed=True
    )


def fail(
    upload: MediaUpload,
    code: FailureCode,
    reason: str,
    now: datetime,
    *,
    event: ProviderEvent | None = None,
) -> Transition:
    """Move a non-terminal upload to FAILED; a terminal one is returned unchanged."""
    if upload.is_terminal:
        return _unchanged(upload)
    updated = attrs.evolve(
        upload,
        status=UploadStatus.FAILED,
        failure_code=code,
        failure_reason=reason or code.value.replace("_", " "),
        provider_asset_id=upload.provider_asset_id or (event.asset_id if event else None),
        updated_at=now,
        version=upload.version + 1,
    )
    return Transition(
        upload=updated, events=(UploadFailed(upload=updated, occurred_at=now),), changed=True
    )


def cancel(upload: MediaUpload, now: datetime) -> Transition:
    """The owner gives up on an upload; refused once it is READY or FAILED."""
    if upload.is_terminal:
        raise NotCancellable(f"upload {upload.id} is already {upload.status.value}")
    return fail(upload, FailureCode.CANCELLED, "cancelled by the owner", now)


def expire(upload: MediaUpload, now: datetime) -> Transition:
    """FAILED (``expired``) if still UPLOADING once its upload URL has expired; else no-op."""
    expires_at = upload.upload_expires_at
    if upload.status is not UploadStatus.UPLOADING or expires_at is None or expires_at > now:
        return _unchanged(upload)
    return fail(upload, FailureCode.EXPIRED, "the upload URL expired unused", now)


def abandon(upload: MediaUpload, created_before: datetime, now: datetime) -> Transition:
    """FAILED (``provider_error``) if still UPLOADING without a provider slot and created
    before ``created_before``: its create died between our first write and the last."""
    if (
        upload.status is not UploadStatus.UPLOADING
        or upload.provider_upload_id is not None
        or upload.created_at >= created_before
    ):
        return _unchanged(upload)
    reason = "no provider upload slot was ever recorded for this upload"
    return fail(upload, FailureCode.PROVIDER_ERROR, reason, now)


def attach_slot(
    upload: MediaUpload,
    *,
    provider_upload_id: str,
    playback_id: str | None,
    asset_id: str | None,
    expires_at: datetime,
) -> Transition:
    """Record the provider's upload slot; ids the upload already knows are kept.

    No events: the upload stays UPLOADING, and its creation is announced once the slot is stored.
    """
    updated = attrs.evolve(
        upload,
        provider_upload_id=upload.provider_upload_id or provider_upload_id,
        playback_id=upload.playback_id or playback_id,
        provider_asset_id=upload.provider_asset_id or asset_id,
        upload_expires_at=expires_at,
    )
    if updated == upload:
        return _unchanged(upload)
    updated = attrs.evolve(updated, version=upload.version + 1)
    return Transition(upload=updated, events=(), changed=True)


def reassign(upload: MediaUpload, provider: str, now: datetime) -> Transition:
    """Give a new upload to ``provider`` instead: a create that failed over.

    Only while it is UPLOADING with no slot at any provider (its create failed having done
    nothing); otherwise a no-op, so an upload never changes provider once one holds it. No
    events: its creation is announced once a slot is stored.
    """
    if (
        upload.status is not UploadStatus.UPLOADING
        or upload.provider_upload_id is not None
        or upload.provider == provider
    ):
        return _unchanged(upload)
    updated = attrs.evolve(upload, provider=provider, updated_at=now, version=upload.version + 1)
    return Transition(upload=updated, events=(), changed=True)
