"""The service with several providers: routing by the upload, the selector, failover."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import attrs
import pytest

from adapters.repositories.memory import InMemoryMediaRepository
from media_core.errors import ProviderNotConfigured, ProviderRejected, ProviderUnavailable
from media_core.events import ProviderEvent, ProviderEventKind, UploadFailedOver, UploadRequested
from media_core.model import FailureCode, UploadStatus, Visibility
from media_core.ports import NewUploadChoice, Playback, ProviderCandidate
from media_core.providers import ProviderSet
from media_core.reconcile import Reconciler, ReconcileSettings
from media_core.services import MediaService, RequestUpload, WebhookOutcome
from media_core.state_machine import reassign
from tests.support.fakes import (
    FixedRateLimiter,
    FrozenClock,
    RecordingPublisher,
    ScriptedVideoProvider,
    SequentialIds,
)
from tests.support.repositories import make_upload

COMMAND = RequestUpload(
    file_name="clip.mp4", file_size=1000, mime_type="video/mp4", visibility=Visibility.PUBLIC
)
UNSENT = ProviderUnavailable("a: connection refused", nothing_done=True)


@attrs.define
class Switch:
    """A ProviderHealth a test flips."""

    on: bool = True

    def accepting(self) -> bool:
        """What the test set."""
        return self.on


@attrs.define
class World:
    """A service over two scripted providers, ``a`` (the default) and ``b``."""

    service: MediaService
    a: ScriptedVideoProvider
    b: ScriptedVideoProvider
    health: Switch
    repository: InMemoryMediaRepository
    publisher: RecordingPublisher
    clock: FrozenClock


def make_world(
    names: Sequence[str] = ("a", "b"), *, keep: Sequence[str] | None = None, **options: object
) -> World:
    """Two providers (``keep`` limits which are configured); ``a`` has a health switch."""
    a, b = ScriptedVideoProvider(name="a"), ScriptedVideoProvider(name="b", playback_id="pb-b")
    by_name = {"a": a, "b": b}
    health = Switch()
    kept = [by_name[name] for name in (keep or names)]
    providers = ProviderSet(kept, health={"a": health} if a in kept else None)
    repository = InMemoryMediaRepository()
    publisher = RecordingPublisher()
    clock = FrozenClock()
    service = MediaService(
        providers=providers,
        repository=repository,
        clock=clock,
        ids=SequentialIds(),
        rate_limiter=FixedRateLimiter(allowed=True),
        publisher=publisher,
        **options,  # type: ignore[arg-type]
    )
    return World(service, a, b, health, repository, publisher, clock)


async def test_new_uploads_go_to_the_first_provider_and_the_record_says_so() -> None:
    """No failover while the default is accepting."""
    world = make_world()
    slot = await world.service.request_upload("alice", COMMAND)
    assert (slot.upload.provider, slot.failover) == ("a", None)
    assert [r.upload_id for r in world.a.created] == [slot.upload.id]
    assert world.b.created == []


async def test_a_host_names_the_provider_explicitly() -> None:
    """``provider=`` picks it, and an unconfigured name is refused before anything is written."""
    world = make_world()
    slot = await world.service.request_upload("alice", COMMAND, provider="b")
    assert slot.upload.provider == "b"
    with pytest.raises(ProviderNotConfigured, match="vimeo"):
        await world.service.request_upload("alice", COMMAND, provider="vimeo")
    assert len((await world.repository.list_for_owner("alice", limit=9, cursor=None)).items) == 1


async def test_an_explicit_provider_does_not_fail_over() -> None:
    """The host asked for that one: its failure is the answer."""
    world = make_world()
    world.b.create_error = ProviderUnavailable("b down", nothing_done=True)
    with pytest.raises(ProviderUnavailable):
        await world.service.request_upload("alice", COMMAND, provider="b")
    assert world.a.created == []


async def test_the_selector_sees_the_request_and_each_provider_health() -> None:
    """A host selector: large files to ``b``; it is given what it needs to decide."""
    seen: list[tuple[NewUploadChoice, tuple[ProviderCandidate, ...]]] = []

    class Large:
        def select(
            self, upload: NewUploadChoice, candidates: Sequence[ProviderCandidate]
        ) -> Sequence[str]:
            seen.append((upload, tuple(candidates)))
            return ("b",) if upload.file_size > 500 else ("a", "b")

    world = make_world(selector=Large())
    world.health.on = False
    slot = await world.service.request_upload("alice", COMMAND)
    assert slot.upload.provider == "b"
    assert slot.failover is None  # the selector's own first choice
    choice, candidates = seen[0]
    assert (choice.owner_id, choice.file_size, choice.visibility) == (
        "alice",
        1000,
        Visibility.PUBLIC,
    )
    assert candidates == (ProviderCandidate("a", False), ProviderCandidate("b", True))


async def test_an_open_circuit_sends_new_uploads_to_the_next_provider() -> None:
    """The default is skipped without a call; the slot and an event say so."""
    world = make_world()
    world.health.on = False
    slot = await world.service.request_upload("alice", COMMAND)
    assert slot.upload.provider == "b"
    assert world.a.created == []
    assert slot.failover is not None
    assert (slot.failover.from_provider, slot.failover.to_provider) == ("a", "b")
    assert "circuit is open" in slot.failover.reason
    moved, requested = world.publisher.events
    assert isinstance(moved, UploadFailedOver)
    assert (moved.from_provider, moved.upload.provider) == ("a", "b")
    assert isinstance(requested, UploadRequested)


async def test_a_create_that_did_nothing_fails_over_and_moves_the_record() -> None:
    """Refused, 5xx, throttled, never sent: the next provider takes the same upload id."""
    world = make_world()
    world.a.create_error = UNSENT
    slot = await world.service.request_upload("alice", COMMAND)
    stored = await world.repository.get(slot.upload.id)
    assert stored is not None
    assert (stored.provider, stored.provider_upload_id) == ("b", f"ps-{slot.upload.id}")
    assert [r.upload_id for r in world.a.created] == [slot.upload.id]
    assert slot.failover is not None
    assert slot.failover.reason == "a: connection refused"


@pytest.mark.parametrize(
    "error",
    [ProviderUnavailable("a: read timed out"), ProviderRejected("a: HTTP 400")],
)
async def test_a_create_that_may_have_acted_or_was_refused_does_not_fail_over(
    error: Exception,
) -> None:
    """A lost answer may have made a slot at ``a``; a 4xx is an answer: FAILED, raised."""
    world = make_world()
    world.a.create_error = error
    with pytest.raises(type(error)):
        await world.service.request_upload("alice", COMMAND)
    assert world.b.created == []
    [failed] = (await world.repository.list_for_owner("alice", limit=9, cursor=None)).items
    assert (failed.provider, failed.failure_code) == ("a", FailureCode.PROVIDER_ERROR)


async def test_when_every_provider_fails_the_last_error_is_raised() -> None:
    """503 only when no provider took the upload; the record ends FAILED on the last one."""
    world = make_world()
    world.a.create_error = UNSENT
    world.b.create_error = ProviderUnavailable("b: HTTP 503", nothing_done=True)
    with pytest.raises(ProviderUnavailable, match="b: HTTP 503"):
        await world.service.request_upload("alice", COMMAND)
    [failed] = (await world.repository.list_for_owner("alice", limit=9, cursor=None)).items
    assert (failed.provider, failed.status) == ("b", UploadStatus.FAILED)


async def test_operations_on_an_upload_go_to_its_own_provider() -> None:
    """Cancel, delete, playback and reconciliation reach ``b`` for ``b``'s upload only."""
    world = make_world()
    on_b = (await world.service.request_upload("alice", COMMAND, provider="b")).upload
    on_a = (await world.service.request_upload("alice", COMMAND)).upload
    await world.service.cancel_upload("alice", on_b.id)
    assert (world.b.cancelled, world.a.cancelled) == ([on_b.id], [])
    world.a.events.append(
        ProviderEvent(
            provider="a",
            delivery_id="e1",
            kind=ProviderEventKind.PROCESSING,
            occurred_at=world.clock.now(),
            upload_id=on_a.id,
        )
    )
    world.clock.advance(timedelta(hours=2))
    lenient = ReconcileSettings(uploading_after=timedelta(0), lease=timedelta(0))
    report = await Reconciler(world.service, lenient).run_once()
    assert report.applied == 1
    await world.service.delete_upload("alice", on_b.id)
    assert (world.b.deleted, world.a.deleted) == ([on_b.id], [])


async def test_an_event_of_one_provider_never_changes_another_providers_upload() -> None:
    """``a``'s event naming ``b``'s upload is an unknown upload for ``a``."""
    world = make_world()
    on_b = (await world.service.request_upload("alice", COMMAND, provider="b")).upload
    event = ProviderEvent(
        provider="a",
        delivery_id="e1",
        kind=ProviderEventKind.PROCESSING,
        occurred_at=world.clock.now(),
        upload_id=on_b.id,
    )
    assert await world.service.apply_provider_event(event) == (WebhookOutcome.UNKNOWN_UPLOAD, None)
    assert (await world.repository.get(on_b.id)) == on_b


async def test_uploads_of_a_removed_provider_stay_readable_but_refuse_writes() -> None:
    """Status and list work; cancel and delete name the provider and change nothing."""
    world = make_world(keep=("a",))
    gone = make_upload("u-gone", owner_id="alice", provider="b", provider_upload_id="pu")
    await world.repository.add(gone)
    assert (await world.service.get_status("alice", "u-gone")).provider == "b"
    page = await world.service.list_uploads("alice", limit=10, cursor=None)
    assert [u.id for u in page.items] == ["u-gone"]
    for write in (world.service.cancel_upload, world.service.delete_upload):
        with pytest.raises(ProviderNotConfigured) as raised:
            await write("alice", "u-gone")
        assert raised.value.provider == "b"
    assert await world.repository.get("u-gone") == gone
    assert world.a.cancelled == world.a.deleted == []


async def test_playback_of_a_removed_provider_comes_from_its_stored_ids() -> None:
    """A builder for the removed provider serves public playback without any provider."""

    def stored(upload: object) -> Playback:
        return Playback(url="https://stream.example/pb.m3u8", mime_type="application/x-mpegURL")

    world = make_world(keep=("a",))
    world.service.providers = ProviderSet([world.a], stored_playback={"b": stored})
    ready = make_upload(
        "u-ready",
        owner_id="alice",
        provider="b",
        status=UploadStatus.READY,
        playback_id="pb",
        duration=1.0,
    )
    await world.repository.add(ready)
    playback = await world.service.playback("alice", "u-ready")
    assert playback.url == "https://stream.example/pb.m3u8"


async def test_the_reconciler_leaves_uploads_of_a_removed_provider_alone_and_counts_them() -> None:
    """No call anywhere, no change, one count; the others are reconciled as before."""
    world = make_world(keep=("a",))
    await world.repository.add(make_upload("u-gone", provider="b", provider_upload_id="pu"))
    await world.repository.add(make_upload("u-pending", provider="b"))
    lenient = ReconcileSettings(
        pending_after=timedelta(0), uploading_after=timedelta(0), lease=timedelta(0)
    )
    world.clock.advance(timedelta(days=400))
    report = await Reconciler(world.service, lenient).run_once()
    assert (report.claimed, report.unconfigured, report.abandoned) == (2, 2, 0)
    assert "2 of providers no longer configured" in report.summary()
    for upload_id in ("u-gone", "u-pending"):
        stored = await world.repository.get(upload_id)
        assert stored is not None
        assert stored.status is UploadStatus.UPLOADING


async def test_user_deletion_reaches_each_upload_provider_and_skips_removed_ones() -> None:
    """Every record goes; each configured provider is told about its own uploads only."""
    world = make_world(keep=("a",))
    mine = (await world.service.request_upload("alice", COMMAND)).upload
    await world.repository.add(make_upload("u-gone", owner_id="alice", provider="b"))
    assert await world.service.delete_all_for_user("alice") == 2
    assert world.a.cancelled == [mine.id]
    assert await world.repository.get("u-gone") is None


def test_reassign_moves_only_an_upload_no_provider_holds() -> None:
    """Once a slot exists, or the upload moved on, the provider never changes."""
    fresh = make_upload("u1", provider="a")
    moved = reassign(fresh, "b", fresh.created_at)
    assert (moved.changed, moved.upload.provider, moved.upload.version) == (True, "b", 1)
    assert moved.events == ()
    held = attrs.evolve(fresh, provider_upload_id="pu")
    assert reassign(held, "b", fresh.created_at).changed is False
    failed = attrs.evolve(fresh, status=UploadStatus.FAILED, failure_code=FailureCode.CANCELLED)
    assert reassign(failed, "b", fresh.created_at).changed is False
    assert reassign(fresh, "a", fresh.created_at).changed is False
