"""Example-based tests of the upload state machine: each transition, spelled out once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from media_core.errors import NotCancellable
from media_core.events import (
    ProviderEvent,
    ProviderEventKind,
    UploadFailed,
    UploadProcessing,
    UploadProgressed,
    UploadReady,
)
from media_core.model import FailureCode, MediaUpload, UploadMetadata, UploadStatus
from media_core.state_machine import abandon, apply_event, attach_slot, cancel, expire, fail

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=10)
T2 = T0 + timedelta(seconds=20)


def make_upload(**changes: Any) -> MediaUpload:
    """A fresh UPLOADING upload with our id ``u1``, changed by ``changes``."""
    fields: dict[str, Any] = {
        "id": "u1",
        "owner_id": "alice",
        "provider": "fake",
        "file_name": "clip.mp4",
        "file_size": 1000,
        "mime_type": "video/mp4",
        "metadata": UploadMetadata(title="Clip"),
        "created_at": T0,
        "updated_at": T0,
        "provider_upload_id": "up-1",
    }
    fields.update(changes)
    return MediaUpload(**fields)


def event(kind: ProviderEventKind, **changes: Any) -> ProviderEvent:
    """A provider event about ``u1`` of ``kind``, with ``changes``."""
    fields: dict[str, Any] = {
        "provider": "fake",
        "delivery_id": "evt-1",
        "kind": kind,
        "occurred_at": T0,
        "upload_id": "u1",
    }
    if kind is ProviderEventKind.READY:
        fields.update(playback_id="pb-1", duration=12.5)
    if kind is ProviderEventKind.FAILED:
        fields.update(failure_code=FailureCode.INVALID_FILE)
    fields.update(changes)
    return ProviderEvent(**fields)


def test_processing_moves_uploading_to_processing_and_emits_processing_and_progress() -> None:
    """The first PROCESSING event sets status, progress, ids and uploaded_at, with two events."""
    transition = apply_event(
        make_upload(),
        event(ProviderEventKind.PROCESSING, progress=30, asset_id="as-1", playback_id="pb-1"),
        T1,
    )
    upload = transition.upload
    assert transition.changed
    assert upload.status is UploadStatus.PROCESSING
    assert upload.progress == 30
    assert (upload.provider_asset_id, upload.playback_id) == ("as-1", "pb-1")
    assert upload.uploaded_at == T1
    assert upload.updated_at == T1
    assert [type(e) for e in transition.events] == [UploadProcessing, UploadProgressed]
    assert all(e.upload is upload and e.occurred_at == T1 for e in transition.events)


def test_processing_without_progress_emits_only_processing() -> None:
    """A PROCESSING event with no progress figure leaves progress at 0 and emits no progress."""
    transition = apply_event(make_upload(), event(ProviderEventKind.PROCESSING), T1)
    assert transition.upload.progress == 0
    assert [type(e) for e in transition.events] == [UploadProcessing]


def test_higher_progress_while_processing_emits_only_progressed() -> None:
    """More progress on a PROCESSING upload emits UploadProgressed, not UploadProcessing again."""
    processing = apply_event(
        make_upload(), event(ProviderEventKind.PROCESSING, progress=10), T1
    ).upload
    transition = apply_event(
        processing, event(ProviderEventKind.PROCESSING, delivery_id="evt-2", progress=60), T2
    )
    assert transition.upload.progress == 60
    assert [type(e) for e in transition.events] == [UploadProgressed]


def test_lower_progress_is_ignored() -> None:
    """A late PROCESSING event with less progress changes nothing."""
    processing = apply_event(
        make_upload(), event(ProviderEventKind.PROCESSING, progress=70), T1
    ).upload
    transition = apply_event(
        processing, event(ProviderEventKind.PROCESSING, delivery_id="evt-2", progress=20), T2
    )
    assert not transition.changed
    assert transition.upload is processing
    assert transition.events == ()


def test_late_processing_event_may_add_a_fact_the_upload_did_not_know() -> None:
    """Rule 4's one allowance: a late event may add an id, without moving progress or status."""
    processing = apply_event(
        make_upload(), event(ProviderEventKind.PROCESSING, progress=70), T1
    ).upload
    transition = apply_event(
        processing,
        event(ProviderEventKind.PROCESSING, delivery_id="evt-2", progress=5, asset_id="as-1"),
        T2,
    )
    assert transition.changed
    assert transition.upload.provider_asset_id == "as-1"
    assert transition.upload.progress == 70
    assert transition.events == ()


def test_known_ids_are_not_overwritten_by_a_processing_event() -> None:
    """Ids the upload already has win over a PROCESSING event's."""
    upload = make_upload(playback_id="pb-known")
    transition = apply_event(
        upload, event(ProviderEventKind.PROCESSING, playback_id="pb-other"), T1
    )
    assert transition.upload.playback_id == "pb-known"


def test_ready_sets_everything_and_emits_ready() -> None:
    """READY from PROCESSING: progress 100, duration, playback id, thumbnail, ready_at."""
    processing = apply_event(
        make_upload(), event(ProviderEventKind.PROCESSING, progress=40), T1
    ).upload
    transition = apply_event(
        processing,
        event(
            ProviderEventKind.READY,
            delivery_id="evt-2",
            asset_id="as-1",
            thumbnail_url="https://img/1.jpg",
            aspect_ratio="16:9",
        ),
        T2,
    )
    upload = transition.upload
    assert upload.status is UploadStatus.READY
    assert upload.progress == 100
    assert (upload.duration, upload.playback_id) == (12.5, "pb-1")
    assert upload.provider_asset_id == "as-1"
    assert upload.thumbnail_url == "https://img/1.jpg"
    assert upload.aspect_ratio == "16:9"
    assert upload.ready_at == T2
    assert upload.uploaded_at == T1
    assert [type(e) for e in transition.events] == [UploadReady]


def test_ready_straight_from_uploading_emits_only_ready() -> None:
    """Cloudflare sends no PROCESSING: UPLOADING → READY emits UploadReady alone."""
    transition = apply_event(make_upload(), event(ProviderEventKind.READY), T1)
    assert transition.upload.status is UploadStatus.READY
    assert transition.upload.uploaded_at == T1
    assert [type(e) for e in transition.events] == [UploadReady]


def test_failed_event_fails_with_its_code_and_reason() -> None:
    """A FAILED event records its code, reason and asset id, and emits UploadFailed."""
    transition = apply_event(
        make_upload(),
        event(ProviderEventKind.FAILED, failure_reason="bad codec", asset_id="as-1"),
        T1,
    )
    upload = transition.upload
    assert upload.status is UploadStatus.FAILED
    assert upload.failure_code is FailureCode.INVALID_FILE
    assert upload.failure_reason == "bad codec"
    assert upload.provider_asset_id == "as-1"
    assert [type(e) for e in transition.events] == [UploadFailed]


def test_failed_event_without_reason_gets_a_readable_default() -> None:
    """A failure with no reason text reads as its code, in words."""
    transition = apply_event(make_upload(), event(ProviderEventKind.FAILED), T1)
    assert transition.upload.failure_reason == "invalid file"


@pytest.mark.parametrize("kind", list(ProviderEventKind))
@pytest.mark.parametrize("end", ["ready", "failed"])
def test_terminal_upload_ignores_every_kind_of_event(kind: ProviderEventKind, end: str) -> None:
    """READY and FAILED uploads come back as the same object for every event kind."""
    first = event(
        ProviderEventKind.READY if end == "ready" else ProviderEventKind.FAILED,
        delivery_id="evt-0",
    )
    ended = apply_event(make_upload(), first, T1).upload
    transition = apply_event(ended, event(kind, delivery_id="evt-9", progress=100), T2)
    assert transition.upload is ended
    assert not transition.changed
    assert transition.events == ()


def test_ready_then_failed_stays_ready_and_failed_then_ready_stays_failed() -> None:
    """The first terminal event wins; the order of READY and FAILED decides the outcome."""
    ready, failed = event(ProviderEventKind.READY), event(ProviderEventKind.FAILED)
    a = apply_event(apply_event(make_upload(), ready, T1).upload, failed, T2).upload
    b = apply_event(apply_event(make_upload(), failed, T1).upload, ready, T2).upload
    assert a.status is UploadStatus.READY
    assert b.status is UploadStatus.FAILED


def test_cancel_fails_with_code_cancelled() -> None:
    """Cancelling an open upload makes it FAILED/cancelled and emits UploadFailed."""
    transition = cancel(make_upload(), T1)
    assert transition.upload.status is UploadStatus.FAILED
    assert transition.upload.failure_code is FailureCode.CANCELLED
    assert transition.upload.failure_reason == "cancelled by the owner"
    assert [type(e) for e in transition.events] == [UploadFailed]


@pytest.mark.parametrize(
    "first",
    [event(ProviderEventKind.READY), event(ProviderEventKind.FAILED)],
    ids=["ready", "failed"],
)
def test_cancel_of_a_finished_upload_raises_not_cancellable(first: ProviderEvent) -> None:
    """READY and FAILED uploads cannot be cancelled."""
    ended = apply_event(make_upload(), first, T1).upload
    with pytest.raises(NotCancellable, match="already"):
        cancel(ended, T2)


def test_fail_on_a_terminal_upload_returns_it_unchanged() -> None:
    """fail() (used by the reconciler and the service) never overrides an end state."""
    ended = apply_event(make_upload(), event(ProviderEventKind.READY), T1).upload
    transition = fail(ended, FailureCode.EXPIRED, "", T2)
    assert transition.upload is ended
    assert not transition.changed


def test_expire_fails_only_an_uploading_upload_whose_url_has_expired() -> None:
    """Before the URL expires, once processing, or with no URL yet, expiry changes nothing."""
    waiting = make_upload(upload_expires_at=T1)
    assert expire(waiting, T0).upload is waiting
    assert not expire(make_upload(), T2).changed
    assert not expire(make_upload(status=UploadStatus.PROCESSING, upload_expires_at=T1), T2).changed
    expired = expire(waiting, T1)
    assert expired.changed
    assert expired.upload.failure_code is FailureCode.EXPIRED
    assert expired.upload.version == waiting.version + 1
    assert [type(e) for e in expired.events] == [UploadFailed]


def test_abandon_fails_only_an_old_uploading_upload_without_a_slot() -> None:
    """A create that never recorded its provider slot ends FAILED once old enough."""
    orphan = make_upload(provider_upload_id=None)
    assert not abandon(orphan, T0, T2).changed  # created at the cutoff: not before it
    assert not abandon(make_upload(), T1, T2).changed  # it has a slot
    abandoned = abandon(orphan, T1, T2)
    assert abandoned.upload.failure_code is FailureCode.PROVIDER_ERROR
    assert abandoned.upload.updated_at == T2
    assert [type(e) for e in abandoned.events] == [UploadFailed]


def test_attach_slot_records_the_ticket_keeping_known_ids_and_emits_nothing() -> None:
    """The slot's ids fill what the upload does not know; attaching the same slot again is a
    no-op."""
    fresh = make_upload(provider_upload_id=None, playback_id="pb-known")
    attached = attach_slot(
        fresh, provider_upload_id="up-9", playback_id="pb-new", asset_id="as-9", expires_at=T1
    )
    assert attached.changed
    assert attached.events == ()
    stored = attached.upload
    assert (stored.provider_upload_id, stored.playback_id, stored.provider_asset_id) == (
        "up-9",
        "pb-known",
        "as-9",
    )
    assert (stored.upload_expires_at, stored.version) == (T1, fresh.version + 1)
    again = attach_slot(
        stored, provider_upload_id="up-9", playback_id="pb-new", asset_id="as-9", expires_at=T1
    )
    assert again.upload is stored
    assert not again.changed
