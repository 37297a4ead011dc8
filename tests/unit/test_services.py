"""The use cases of ``MediaService`` over the real in-memory adapters and small fakes."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest

from adapters.rate_limit.memory import InMemoryRateLimiter
from adapters.repositories.memory import InMemoryMediaRepository
from adapters.webhooks import NormalizedWebhookVerifier, sign_normalized
from media_core.errors import (
    Conflict,
    FileTooLarge,
    InvalidFileSize,
    InvalidInput,
    InvalidSignature,
    MetadataTooLong,
    NotCancellable,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    UnsupportedMediaType,
    UploadNotFound,
    VersionConflict,
)
from media_core.events import ProviderEvent, ProviderEventKind, UploadRequested
from media_core.model import FailureCode, MediaUpload, UploadStatus, Visibility
from media_core.policy import UploadPolicy
from media_core.ports import (
    DeliveryKey,
    EventPublisher,
    MediaRepository,
    RateLimiter,
    WebhookDelivery,
)
from media_core.providers import ProviderSet
from media_core.services import MediaService, RequestUpload, WebhookOutcome
from tests.support.fakes import (
    START,
    ConflictingRepository,
    ExplodingPublisher,
    FixedRateLimiter,
    FrozenClock,
    RecordingPublisher,
    ScriptedVideoProvider,
    SequentialIds,
)

WEBHOOK_SECRET = "hook-secret"


@attrs.define
class World:
    """A service and every collaborator a test may look at or steer."""

    service: MediaService
    clock: FrozenClock
    provider: ScriptedVideoProvider
    repository: InMemoryMediaRepository
    publisher: RecordingPublisher

    async def stored(self, upload_id: str) -> MediaUpload:
        """The upload as the repository has it now."""
        upload = await self.repository.get(upload_id)
        assert upload is not None
        return upload

    async def all_uploads(self, owner: str = "alice") -> tuple[MediaUpload, ...]:
        """Every stored upload of ``owner``."""
        return (await self.repository.list_for_owner(owner, limit=100, cursor=None)).items


def make_world(
    *,
    provider: ScriptedVideoProvider | None = None,
    rate_limiter: RateLimiter | None = None,
    publisher: EventPublisher | None = None,
    **service_options: Any,
) -> World:
    """Wire a MediaService over the in-memory repository and the fakes."""
    clock = FrozenClock()
    repository = InMemoryMediaRepository()
    recording = RecordingPublisher()
    scripted = provider or ScriptedVideoProvider()
    port: MediaRepository = repository
    service = MediaService(
        providers=ProviderSet.of(scripted),
        repository=port,
        clock=clock,
        ids=SequentialIds(),
        rate_limiter=rate_limiter or FixedRateLimiter(allowed=True),
        publisher=publisher or recording,
        policy=UploadPolicy(max_file_size=10_000, max_title_length=20),
        **service_options,
    )
    return World(
        service=service,
        clock=clock,
        provider=scripted,
        repository=repository,
        publisher=recording,
    )


@pytest.fixture
def world() -> World:
    """A fresh service with a provider that assigns playback ids later (Mux-like)."""
    return make_world()


COMMAND = RequestUpload(
    file_name="  My clip.MP4 ",
    file_size=2048,
    mime_type="Video/MP4; codecs=avc1",
    title=" Holiday\u202e ",
    description="Day 1\r\nDay 2",
    visibility=Visibility.UNLISTED,
    extra={"trip": "alps"},
)


def event(kind: ProviderEventKind, upload_id: str | None = "up1", **changes: Any) -> ProviderEvent:
    """A provider event of the scripted provider about ``upload_id``."""
    fields: dict[str, Any] = {
        "provider": "scripted",
        "delivery_id": f"evt-{kind.value}",
        "kind": kind,
        "occurred_at": START,
        "upload_id": upload_id,
    }
    if kind is ProviderEventKind.READY:
        fields.update(playback_id="pb-1", duration=3.5, asset_id="as-1")
    if kind is ProviderEventKind.FAILED:
        fields.update(failure_code=FailureCode.INVALID_FILE)
    fields.update(changes)
    return ProviderEvent(**fields)


async def ready_upload(world: World) -> MediaUpload:
    """Create an upload for alice and bring it to READY."""
    slot = await world.service.request_upload("alice", COMMAND)
    world.clock.advance(timedelta(seconds=5))
    outcome, upload = await world.service.apply_provider_event(
        event(ProviderEventKind.READY, slot.upload.id)
    )
    assert outcome is WebhookOutcome.APPLIED
    assert upload is not None
    return upload


# request_upload


async def test_request_upload_stores_an_uploading_record_with_the_ticket(world: World) -> None:
    """The happy path: sanitized, normalized, stored UPLOADING with the ticket's data."""
    slot = await world.service.request_upload("alice", COMMAND)
    stored = await world.stored("up1")
    assert slot.upload == stored
    assert stored.status is UploadStatus.UPLOADING
    assert stored.owner_id == "alice"
    assert stored.provider == "scripted"
    assert stored.file_name == "My clip.MP4"
    assert stored.mime_type == "video/mp4"
    assert stored.metadata.title == "Holiday"
    assert stored.metadata.description == "Day 1\nDay 2"
    assert stored.metadata.visibility is Visibility.UNLISTED
    assert stored.metadata.extra == {"trip": "alps"}
    assert stored.provider_upload_id == "ps-up1"
    assert stored.upload_expires_at == slot.ticket.expires_at
    assert stored.playback_id is None
    assert stored.created_at == world.clock.now()
    assert slot.ticket.url == "https://upload.example/up1"
    assert slot.rate.allowed
    [request] = world.provider.created
    assert (request.upload_id, request.owner_id, request.mime_type) == ("up1", "alice", "video/mp4")
    assert request.metadata == stored.metadata


async def test_request_upload_publishes_upload_requested_with_the_stored_record(
    world: World,
) -> None:
    """Exactly one UploadRequested, carrying the record as stored."""
    slot = await world.service.request_upload("alice", COMMAND)
    [published] = world.publisher.events
    assert isinstance(published, UploadRequested)
    assert published.upload == slot.upload


async def test_playback_id_known_at_creation_is_stored() -> None:
    """A provider that assigns the playback id at creation (Cloudflare) has it stored at once."""
    world = make_world(provider=ScriptedVideoProvider(playback_id="cf-uid"))
    slot = await world.service.request_upload("alice", COMMAND)
    assert slot.upload.playback_id == "cf-uid"
    assert (await world.service.get_status("alice", "cf-uid")).id == slot.upload.id


async def test_rate_limit_key_is_per_user() -> None:
    """Upload creation is limited per user."""
    limiter = FixedRateLimiter(allowed=True)
    world = make_world(rate_limiter=limiter)
    await world.service.request_upload("alice", COMMAND)
    await world.service.request_upload("bob", COMMAND)
    assert limiter.keys == ["create:alice", "create:bob"]


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"mime_type": "image/png"}, UnsupportedMediaType, "/mimeType"),
        ({"file_name": "clip.webm"}, UnsupportedMediaType, "/fileName"),
        ({"file_size": 0}, InvalidFileSize, "/fileSize"),
        ({"file_size": 10_001}, FileTooLarge, "/fileSize"),
        ({"file_name": " "}, InvalidInput, "/fileName"),
        ({"title": "t" * 21}, MetadataTooLong, "/metadata/title"),
    ],
)
async def test_policy_errors_raise_before_anything_is_stored(
    changes: dict[str, Any], error: type[InvalidInput], field: str
) -> None:
    """Bad input is refused before the rate limiter, the repository or the provider is touched."""
    limiter = FixedRateLimiter(allowed=True)
    world = make_world(rate_limiter=limiter)
    with pytest.raises(error) as caught:
        await world.service.request_upload("alice", attrs.evolve(COMMAND, **changes))
    assert caught.value.field == field
    assert await world.all_uploads() == ()
    assert world.provider.created == []
    assert limiter.keys == []
    assert world.publisher.events == []


async def test_rate_limited_request_raises_and_stores_nothing() -> None:
    """A refused request raises RateLimited with the limiter's figures, and nothing exists."""
    world = make_world(rate_limiter=FixedRateLimiter(allowed=False, retry_after=12.0))
    with pytest.raises(RateLimited) as caught:
        await world.service.request_upload("alice", COMMAND)
    assert (caught.value.retry_after, caught.value.limit, caught.value.remaining) == (12.0, 5, 0)
    assert await world.all_uploads() == ()
    assert world.provider.created == []
    assert world.publisher.events == []


async def test_real_rate_limiter_refuses_the_request_over_the_burst() -> None:
    """With the in-memory GCRA limiter (burst 1), the second request in a row is refused."""
    clock = FrozenClock()
    limiter = InMemoryRateLimiter(rate=1, period=60, burst=1, clock=clock)
    world = make_world(rate_limiter=limiter)
    world.service.clock = clock
    await world.service.request_upload("alice", COMMAND)
    with pytest.raises(RateLimited) as caught:
        await world.service.request_upload("alice", COMMAND)
    assert caught.value.retry_after > 0
    assert len(await world.all_uploads()) == 1
    await world.service.request_upload("bob", COMMAND)


@pytest.mark.parametrize(
    "error",
    [ProviderUnavailable("timed out"), ProviderRejected("HTTP 400: bad")],
    ids=["unavailable", "rejected"],
)
async def test_provider_failure_leaves_the_record_failed_and_reraises(error: Exception) -> None:
    """The record written before the call ends FAILED/provider_error; the error propagates."""
    world = make_world(provider=ScriptedVideoProvider(create_error=error))
    with pytest.raises(type(error)):
        await world.service.request_upload("alice", COMMAND)
    stored = await world.stored("up1")
    assert stored.status is UploadStatus.FAILED
    assert stored.failure_code is FailureCode.PROVIDER_ERROR
    assert stored.failure_reason == f"provider: {error}"
    assert world.publisher.names() == ["upload.failed"]


# Webhooks


async def test_processing_event_is_applied_stored_and_published(world: World) -> None:
    """A first PROCESSING event moves the stored upload on, bumps its version, publishes."""
    slot = await world.service.request_upload("alice", COMMAND)
    world.clock.advance(timedelta(seconds=3))
    outcome, upload = await world.service.apply_provider_event(
        event(ProviderEventKind.PROCESSING, progress=25)
    )
    assert outcome is WebhookOutcome.APPLIED
    assert upload == await world.stored("up1")
    assert upload.status is UploadStatus.PROCESSING
    assert upload.progress == 25
    assert upload.version == slot.upload.version + 1
    assert world.publisher.names()[1:] == ["upload.processing", "upload.progressed"]
    assert all(e.upload == upload for e in world.publisher.events[1:])


async def test_same_delivery_twice_is_a_duplicate_and_changes_nothing(world: World) -> None:
    """A redelivered event is reported DUPLICATE; nothing is stored or published again."""
    await world.service.request_upload("alice", COMMAND)
    first = event(ProviderEventKind.PROCESSING, progress=25)
    await world.service.apply_provider_event(first)
    before, published = await world.stored("up1"), len(world.publisher.events)
    outcome, upload = await world.service.apply_provider_event(first)
    assert (outcome, upload) == (WebhookOutcome.DUPLICATE, before)
    assert await world.stored("up1") == before
    assert len(world.publisher.events) == published


async def test_new_delivery_with_nothing_new_is_unchanged_then_duplicate(world: World) -> None:
    """A late event is recorded as UNCHANGED once, and DUPLICATE when it comes again."""
    await world.service.request_upload("alice", COMMAND)
    await world.service.apply_provider_event(event(ProviderEventKind.PROCESSING, progress=80))
    late = event(ProviderEventKind.PROCESSING, delivery_id="evt-late", progress=10)
    before = await world.stored("up1")
    outcome, upload = await world.service.apply_provider_event(late)
    assert outcome is WebhookOutcome.UNCHANGED
    assert upload == before
    assert await world.stored("up1") == before
    assert (await world.service.apply_provider_event(late))[0] is WebhookOutcome.DUPLICATE


async def test_event_after_ready_is_unchanged(world: World) -> None:
    """Terminal stays terminal through the service: a late FAILED leaves READY alone."""
    ready = await ready_upload(world)
    outcome, upload = await world.service.apply_provider_event(
        event(ProviderEventKind.FAILED, ready.id)
    )
    assert outcome is WebhookOutcome.UNCHANGED
    assert upload == ready
    assert (await world.stored(ready.id)).status is UploadStatus.READY


async def test_event_for_an_unknown_upload(world: World) -> None:
    """An event about no upload of ours is UNKNOWN_UPLOAD and records nothing."""
    outcome, upload = await world.service.apply_provider_event(
        event(ProviderEventKind.PROCESSING, "nope")
    )
    assert (outcome, upload) == (WebhookOutcome.UNKNOWN_UPLOAD, None)
    assert world.publisher.events == []


async def test_event_from_another_provider_does_not_touch_our_upload(world: World) -> None:
    """An event naming our id but sent by another provider is UNKNOWN_UPLOAD."""
    await world.service.request_upload("alice", COMMAND)
    before = await world.stored("up1")
    outcome, _ = await world.service.apply_provider_event(
        event(ProviderEventKind.READY, provider="mux")
    )
    assert outcome is WebhookOutcome.UNKNOWN_UPLOAD
    assert await world.stored("up1") == before


async def test_event_found_by_provider_upload_id(world: World) -> None:
    """Events that only know the provider's upload id still find the upload."""
    await world.service.request_upload("alice", COMMAND)
    outcome, upload = await world.service.apply_provider_event(
        event(ProviderEventKind.PROCESSING, None, provider_upload_id="ps-up1")
    )
    assert outcome is WebhookOutcome.APPLIED
    assert upload is not None
    assert upload.id == "up1"


class IgnoringVerifier:
    """A verifier for a route whose deliveries carry no upload-state event."""

    provider = "scripted"

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookDelivery:
        """Acknowledge every delivery without an event."""
        return WebhookDelivery(provider="scripted", event_type="video.live_stream.idle", event=None)


async def test_delivery_without_an_event_is_ignored(world: World) -> None:
    """A verified delivery of an event type we do not track is IGNORED."""
    outcome, upload = await world.service.receive_webhook(IgnoringVerifier(), {}, b"{}")
    assert (outcome, upload) == (WebhookOutcome.IGNORED, None)


async def test_receive_webhook_verifies_then_applies(world: World) -> None:
    """A signed normalized delivery is verified at the clock's time and applied."""
    await world.service.request_upload("alice", COMMAND)
    verifier = NormalizedWebhookVerifier(secrets=[WEBHOOK_SECRET], provider="scripted")
    body = json.dumps({"eventId": "e1", "uploadId": "up1", "status": "processing"}).encode()
    headers = sign_normalized(WEBHOOK_SECRET, int(world.clock.now().timestamp()), body)
    outcome, upload = await world.service.receive_webhook(verifier, headers, body)
    assert outcome is WebhookOutcome.APPLIED
    assert upload is not None
    assert upload.status is UploadStatus.PROCESSING


async def test_receive_webhook_with_a_bad_signature_changes_nothing(world: World) -> None:
    """A forged delivery raises InvalidSignature and leaves the upload as it was."""
    await world.service.request_upload("alice", COMMAND)
    before = await world.stored("up1")
    verifier = NormalizedWebhookVerifier(secrets=[WEBHOOK_SECRET], provider="scripted")
    body = json.dumps({"uploadId": "up1", "status": "failed"}).encode()
    headers = sign_normalized("forged", int(world.clock.now().timestamp()), body)
    with pytest.raises(InvalidSignature):
        await world.service.receive_webhook(verifier, headers, body)
    assert await world.stored("up1") == before


# Concurrency


async def test_lost_race_on_a_webhook_is_retried_from_a_fresh_read() -> None:
    """One VersionConflict: the event is re-applied on the newer version and stored once."""
    world = make_world()
    await world.service.request_upload("alice", COMMAND)
    racing = ConflictingRepository(world.repository, conflicts=1)
    world.service.repository = racing
    version = (await world.stored("up1")).version
    outcome, upload = await world.service.apply_provider_event(
        event(ProviderEventKind.PROCESSING, progress=10)
    )
    assert outcome is WebhookOutcome.APPLIED
    assert racing.write_calls == 2
    assert upload is not None
    assert upload.version == version + 2
    assert await world.stored("up1") == upload
    assert world.publisher.names().count("upload.processing") == 1


async def test_webhook_that_loses_every_race_raises_version_conflict() -> None:
    """Retries are bounded: after max_update_attempts lost races, VersionConflict."""
    world = make_world(max_update_attempts=3)
    await world.service.request_upload("alice", COMMAND)
    racing = ConflictingRepository(world.repository, conflicts=3)
    world.service.repository = racing
    with pytest.raises(VersionConflict):
        await world.service.apply_provider_event(event(ProviderEventKind.PROCESSING))
    assert racing.write_calls == 3
    assert (await world.stored("up1")).status is UploadStatus.UPLOADING


async def test_lost_race_on_cancel_is_retried() -> None:
    """Cancellation goes through the same read-change-write retry."""
    world = make_world()
    await world.service.request_upload("alice", COMMAND)
    racing = ConflictingRepository(world.repository, conflicts=1)
    world.service.repository = racing
    cancelled = await world.service.cancel_upload("alice", "up1")
    assert cancelled.failure_code is FailureCode.CANCELLED
    assert racing.write_calls == 2


async def test_delivery_committed_by_another_instance_during_the_check_is_a_duplicate(
    world: World,
) -> None:
    """The atomic write refuses a delivery another instance stored meanwhile: DUPLICATE."""
    await world.service.request_upload("alice", COMMAND)
    first = event(ProviderEventKind.PROCESSING, progress=10)
    await world.repository.record_delivery(
        DeliveryKey(provider="scripted", delivery_id=first.delivery_id), world.clock.now()
    )
    before = await world.stored("up1")
    world.service.repository = ConflictingRepository(
        world.repository, conflicts=0, stale_delivery_check=True
    )
    outcome, upload = await world.service.apply_provider_event(first)
    assert (outcome, upload) == (WebhookOutcome.DUPLICATE, before)
    assert await world.stored("up1") == before
    assert world.publisher.names() == ["upload.requested"]


async def test_already_applied_delivery_behind_a_stale_check_is_a_duplicate(
    world: World,
) -> None:
    """A delivery applied before, seen again past a stale check, changes nothing: DUPLICATE."""
    await world.service.request_upload("alice", COMMAND)
    first = event(ProviderEventKind.PROCESSING, progress=10)
    await world.service.apply_provider_event(first)
    before = await world.stored("up1")
    world.service.repository = ConflictingRepository(
        world.repository, conflicts=0, stale_delivery_check=True
    )
    outcome, _ = await world.service.apply_provider_event(first)
    assert outcome is WebhookOutcome.DUPLICATE
    assert await world.stored("up1") == before


# Reading


async def test_get_status_by_id_and_by_playback_id(world: World) -> None:
    """Our id and the playback id both find the owner's upload."""
    ready = await ready_upload(world)
    assert await world.service.get_status("alice", ready.id) == ready
    assert await world.service.get_status("alice", "pb-1") == ready


@pytest.mark.parametrize("key", ["up1", "pb-1", "missing"])
async def test_someone_elses_upload_looks_missing(world: World, key: str) -> None:
    """Another owner's id or playback id raises UploadNotFound, exactly like a missing one."""
    await ready_upload(world)
    with pytest.raises(UploadNotFound):
        await world.service.get_status("mallory", key)


async def test_list_uploads_pages_newest_first(world: World) -> None:
    """The owner's uploads come newest first, a page at a time, without others' uploads."""
    for _ in range(3):
        await world.service.request_upload("alice", COMMAND)
        world.clock.advance(timedelta(seconds=1))
    await world.service.request_upload("bob", COMMAND)
    first = await world.service.list_uploads("alice", limit=2, cursor=None)
    assert [u.id for u in first.items] == ["up3", "up2"]
    second = await world.service.list_uploads("alice", limit=2, cursor=first.next_cursor)
    assert [u.id for u in second.items] == ["up1"]
    assert second.next_cursor is None


# Cancel, delete, playback


async def test_cancel_an_uploading_upload_closes_the_slot(world: World) -> None:
    """Cancelling UPLOADING stores FAILED/cancelled, publishes it and closes the provider slot."""
    await world.service.request_upload("alice", COMMAND)
    world.clock.advance(timedelta(seconds=2))
    cancelled = await world.service.cancel_upload("alice", "up1")
    assert cancelled == await world.stored("up1")
    assert cancelled.status is UploadStatus.FAILED
    assert cancelled.failure_code is FailureCode.CANCELLED
    assert cancelled.updated_at == world.clock.now()
    assert world.provider.cancelled == ["up1"]
    assert world.provider.deleted == []
    assert world.publisher.names()[-1] == "upload.failed"


async def test_cancel_a_processing_upload_deletes_the_video(world: World) -> None:
    """Once the provider has the bytes, cancelling deletes its video."""
    await world.service.request_upload("alice", COMMAND)
    await world.service.apply_provider_event(event(ProviderEventKind.PROCESSING))
    await world.service.cancel_upload("alice", "up1")
    assert world.provider.deleted == ["up1"]


async def test_cancel_survives_a_provider_cleanup_failure(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Our record is final even if the provider cannot close the slot now; it is logged."""
    await world.service.request_upload("alice", COMMAND)
    world.provider.cancel_error = ProviderUnavailable("down")
    with caplog.at_level(logging.WARNING, logger="media_core"):
        cancelled = await world.service.cancel_upload("alice", "up1")
    assert cancelled.status is UploadStatus.FAILED
    assert (await world.stored("up1")).status is UploadStatus.FAILED
    assert "cleanup after cancel failed" in caplog.text


async def test_cancel_a_finished_upload_is_not_cancellable(world: World) -> None:
    """READY uploads cannot be cancelled, and nothing is sent to the provider."""
    ready = await ready_upload(world)
    with pytest.raises(NotCancellable):
        await world.service.cancel_upload("alice", ready.id)
    assert world.provider.cancelled == []
    assert world.provider.deleted == []
    assert await world.stored(ready.id) == ready


async def test_cancel_someone_elses_upload_is_not_found(world: World) -> None:
    """Cancelling another owner's upload looks like cancelling a missing one."""
    await world.service.request_upload("alice", COMMAND)
    with pytest.raises(UploadNotFound):
        await world.service.cancel_upload("mallory", "up1")
    assert (await world.stored("up1")).status is UploadStatus.UPLOADING


async def test_delete_an_uploading_upload(world: World) -> None:
    """Deleting UPLOADING closes the slot, removes the record and publishes UploadDeleted."""
    await world.service.request_upload("alice", COMMAND)
    await world.service.delete_upload("alice", "up1")
    assert await world.repository.get("up1") is None
    assert world.provider.cancelled == ["up1"]
    assert world.publisher.names()[-1] == "upload.deleted"


async def test_delete_a_ready_upload_deletes_the_video(world: World) -> None:
    """Deleting READY deletes the provider's video and our record."""
    ready = await ready_upload(world)
    await world.service.delete_upload("alice", "pb-1")
    assert world.provider.deleted == [ready.id]
    assert await world.repository.get(ready.id) is None


async def test_delete_someone_elses_upload_is_not_found(world: World) -> None:
    """Another owner cannot delete an upload, and the provider is not called."""
    await world.service.request_upload("alice", COMMAND)
    with pytest.raises(UploadNotFound):
        await world.service.delete_upload("mallory", "up1")
    assert await world.repository.get("up1") is not None
    assert world.provider.cancelled == []


async def test_delete_all_for_user(world: World) -> None:
    """Every upload of a user goes; others stay."""
    await world.service.request_upload("alice", COMMAND)
    await world.service.request_upload("alice", COMMAND)
    await world.service.request_upload("bob", COMMAND)
    assert await world.service.delete_all_for_user("alice") == 2
    assert await world.all_uploads("alice") == ()
    assert len(await world.all_uploads("bob")) == 1


async def test_playback_only_when_ready(world: World) -> None:
    """Playback of an unfinished upload is a Conflict; of a READY one, the provider's answer."""
    await world.service.request_upload("alice", COMMAND)
    with pytest.raises(Conflict, match="not ready"):
        await world.service.playback("alice", "up1")
    world.clock.advance(timedelta(seconds=1))
    await world.service.apply_provider_event(event(ProviderEventKind.READY))
    playback = await world.service.playback("alice", "up1")
    assert playback.url == "https://play.example/pb-1"


async def test_playback_of_someone_elses_upload_is_not_found(world: World) -> None:
    """Nobody else gets a playback URL for a READY upload."""
    await ready_upload(world)
    with pytest.raises(UploadNotFound):
        await world.service.playback("mallory", "pb-1")


# Publishing


async def test_publisher_failure_does_not_undo_a_committed_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broken subscriber is logged; the upload is created and the webhook applied anyway."""
    exploding = ExplodingPublisher()
    world = make_world(publisher=exploding)
    with caplog.at_level(logging.ERROR, logger="media_core"):
        slot = await world.service.request_upload("alice", COMMAND)
        outcome, upload = await world.service.apply_provider_event(event(ProviderEventKind.READY))
    assert (await world.stored(slot.upload.id)).status is UploadStatus.READY
    assert outcome is WebhookOutcome.APPLIED
    assert upload is not None
    assert exploding.calls == 2
    assert "publishing domain events failed" in caplog.text


async def test_unchanged_deliveries_publish_nothing(world: World) -> None:
    """Only changes are published: a no-op delivery emits no event."""
    await world.service.request_upload("alice", COMMAND)
    await world.service.apply_provider_event(event(ProviderEventKind.PROCESSING, progress=50))
    count = len(world.publisher.events)
    await world.service.apply_provider_event(
        event(ProviderEventKind.PROCESSING, delivery_id="evt-2", progress=20)
    )
    assert len(world.publisher.events) == count
