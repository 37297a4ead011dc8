"""The upload record, its value objects and the normalized provider event refuse bad states."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from media_core.events import (
    DomainEvent,
    ProviderEvent,
    ProviderEventKind,
    UploadDeleted,
    UploadFailed,
    UploadProcessing,
    UploadProgressed,
    UploadReady,
    UploadRequested,
)
from media_core.model import FailureCode, MediaUpload, UploadMetadata, UploadStatus, Visibility

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def make_upload(**changes: Any) -> MediaUpload:
    """A valid UPLOADING upload, changed by ``changes``."""
    fields: dict[str, Any] = {
        "id": "u1",
        "owner_id": "alice",
        "provider": "fake",
        "file_name": "clip.mp4",
        "file_size": 10,
        "mime_type": "video/mp4",
        "metadata": UploadMetadata(),
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return MediaUpload(**fields)


def test_status_order_and_terminality() -> None:
    """Only READY and FAILED are terminal, and they share the last rank."""
    assert [s.is_terminal for s in UploadStatus] == [False, False, True, True]
    assert [s.rank for s in UploadStatus] == [0, 1, 2, 2]


@pytest.mark.parametrize("progress", [-1, 101])
def test_progress_outside_0_to_100_is_refused(progress: int) -> None:
    """The model refuses progress below 0 or above 100."""
    with pytest.raises(ValueError, match="progress"):
        make_upload(progress=progress)


@pytest.mark.parametrize("progress", [0, 100])
def test_progress_bounds_are_accepted(progress: int) -> None:
    """0 and 100 are valid progress values."""
    assert make_upload(progress=progress).progress == progress


def test_failed_upload_needs_a_failure_code() -> None:
    """A FAILED upload without a failure code cannot be built."""
    with pytest.raises(ValueError, match="failure code"):
        make_upload(status=UploadStatus.FAILED)


def test_ready_upload_needs_duration_and_playback_id() -> None:
    """A READY upload without a duration or a playback id cannot be built."""
    with pytest.raises(ValueError, match="duration and a playback id"):
        make_upload(status=UploadStatus.READY, playback_id="pb")
    with pytest.raises(ValueError, match="duration and a playback id"):
        make_upload(status=UploadStatus.READY, duration=1.0)
    ready = make_upload(status=UploadStatus.READY, duration=0.0, playback_id="pb")
    assert ready.is_terminal


def test_upload_is_frozen() -> None:
    """Uploads are immutable; changes go through attrs.evolve."""
    upload = make_upload()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        upload.progress = 5  # type: ignore[misc]


def test_outcome_of_ready_is_what_the_ready_event_carried() -> None:
    """A READY outcome is status, playback id, duration, thumbnail and progress."""
    ready = make_upload(
        status=UploadStatus.READY,
        progress=100,
        duration=2.0,
        playback_id="pb",
        provider_asset_id="as",
        failure_reason="ignored",
    )
    assert ready.outcome() == {
        "status": UploadStatus.READY,
        "playback_id": "pb",
        "duration": 2.0,
        "thumbnail_url": None,
        "progress": 100,
    }


def test_outcome_of_failed_is_its_code_alone() -> None:
    """A FAILED outcome ignores ids and progress learned before failing (order-dependent)."""
    one = make_upload(status=UploadStatus.FAILED, failure_code=FailureCode.EXPIRED, progress=40)
    two = make_upload(
        status=UploadStatus.FAILED, failure_code=FailureCode.EXPIRED, playback_id="pb"
    )
    assert (
        one.outcome()
        == two.outcome()
        == {
            "status": UploadStatus.FAILED,
            "failure_code": FailureCode.EXPIRED,
        }
    )
    other = make_upload(status=UploadStatus.FAILED, failure_code=FailureCode.CANCELLED)
    assert other.outcome() != one.outcome()


def test_outcome_of_an_open_upload_includes_progress() -> None:
    """An unfinished upload's outcome is its status and progress."""
    assert make_upload(status=UploadStatus.PROCESSING, progress=40).outcome() == {
        "status": UploadStatus.PROCESSING,
        "progress": 40,
    }


def test_metadata_defaults_to_private_and_empty() -> None:
    """Metadata is PRIVATE with empty texts unless said otherwise."""
    assert UploadMetadata() == UploadMetadata(
        title="", description="", visibility=Visibility.PRIVATE, extra={}
    )


def _event(**changes: Any) -> ProviderEvent:
    fields: dict[str, Any] = {
        "provider": "fake",
        "delivery_id": "e",
        "kind": ProviderEventKind.PROCESSING,
        "occurred_at": T0,
        "upload_id": "u1",
    }
    fields.update(changes)
    return ProviderEvent(**fields)


@pytest.mark.parametrize(
    "reference", ["upload_id", "provider_upload_id", "asset_id", "playback_id"]
)
def test_provider_event_accepts_any_one_reference(reference: str) -> None:
    """One of the four references is enough for a provider event."""
    fields = dict.fromkeys(["upload_id", "provider_upload_id", "asset_id", "playback_id"])
    fields[reference] = "x"
    assert getattr(_event(**fields), reference) == "x"


def test_provider_event_needs_a_reference() -> None:
    """An event that names no upload is refused."""
    with pytest.raises(ValueError, match="reference"):
        _event(upload_id=None)


@pytest.mark.parametrize(
    "changes",
    [
        {"duration": 1.0},
        {"playback_id": "pb"},
        {"duration": -1.0, "playback_id": "pb"},
    ],
)
def test_ready_event_needs_non_negative_duration_and_playback_id(changes: dict[str, Any]) -> None:
    """A READY event without a duration, a playback id, or with a negative duration is refused."""
    with pytest.raises(ValueError, match="READY"):
        _event(kind=ProviderEventKind.READY, **changes)


def test_failed_event_needs_a_failure_code() -> None:
    """A FAILED event must say why with a code."""
    with pytest.raises(ValueError, match="failure code"):
        _event(kind=ProviderEventKind.FAILED)


@pytest.mark.parametrize("progress", [-1, 101])
def test_event_progress_outside_0_to_100_is_refused(progress: int) -> None:
    """Event progress, when given, is within 0..100."""
    with pytest.raises(ValueError, match="progress"):
        _event(progress=progress)


def test_event_kinds_target_their_status() -> None:
    """Each event kind moves an upload towards the status of the same name."""
    assert {k.value: k.target.value for k in ProviderEventKind} == {
        "processing": "processing",
        "ready": "ready",
        "failed": "failed",
    }


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (UploadRequested, "upload.requested"),
        (UploadProcessing, "upload.processing"),
        (UploadProgressed, "upload.progressed"),
        (UploadReady, "upload.ready"),
        (UploadFailed, "upload.failed"),
        (UploadDeleted, "upload.deleted"),
    ],
)
def test_domain_events_have_stable_names(cls: type[DomainEvent], name: str) -> None:
    """The names host applications subscribe to do not change."""
    assert cls(upload=make_upload(), occurred_at=T0).name == name


def test_failure_codes_are_stable() -> None:
    """Failure codes are part of the API: their values stay put."""
    assert {c.value for c in FailureCode} == {
        "cancelled",
        "expired",
        "provider_error",
        "invalid_file",
        "size_mismatch",
        "type_mismatch",
        "deleted",
    }
