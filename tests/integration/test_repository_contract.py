"""The ``MediaRepository`` contract, run unchanged against memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from adapters.repositories.memory import InMemoryMediaRepository
from adapters.repositories.sql import SqlAlchemyMediaRepository
from media_core.errors import Conflict, DuplicateDelivery, InvalidInput, VersionConflict
from media_core.events import ProviderEvent, ProviderEventKind
from media_core.model import FailureCode, MediaUpload, UploadMetadata, UploadStatus
from media_core.ports import DeliveryKey, EventWriteOutcome
from media_core.state_machine import Transition, apply_event
from tests.support.repositories import (
    T0,
    FrozenClock,
    make_upload,
    open_repository,
    stored_uploads,
)

Repository = InMemoryMediaRepository | SqlAlchemyMediaRepository


@pytest.fixture
def clock() -> FrozenClock:
    """The time the repository stamps deliveries with."""
    return FrozenClock()


@pytest.fixture
async def repository(
    backend: tuple[str, str | None], tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[Repository]:
    """An empty repository on the backend under test."""
    name, schema = backend
    async with open_repository(
        name, tmp_path=tmp_path, postgres_schema=schema, clock=clock
    ) as repo:
        assert isinstance(repo, InMemoryMediaRepository | SqlAlchemyMediaRepository)
        yield repo


def _event(
    *,
    provider: str = "fake",
    upload_id: str | None = None,
    provider_upload_id: str | None = None,
    asset_id: str | None = None,
    playback_id: str | None = None,
) -> ProviderEvent:
    return ProviderEvent(
        provider=provider,
        delivery_id="d-1",
        kind=ProviderEventKind.PROCESSING,
        occurred_at=T0,
        upload_id=upload_id,
        provider_upload_id=provider_upload_id,
        asset_id=asset_id,
        playback_id=playback_id,
    )


def _processing(upload: MediaUpload, progress: int) -> MediaUpload:
    return attrs.evolve(
        upload,
        status=UploadStatus.PROCESSING,
        progress=progress,
        updated_at=upload.updated_at + timedelta(seconds=progress),
    )


KEY = DeliveryKey(provider="fake", delivery_id="evt-1")


async def test_an_added_upload_reads_back_equal_by_id_and_playback_id(
    repository: Repository,
) -> None:
    """What ``add`` stores, ``get`` and ``get_by_playback_id`` return field for field."""
    upload = make_upload(playback_id="pb-1", provider_upload_id="pu-1")
    await repository.add(upload)
    assert await repository.get(upload.id) == upload
    assert await repository.get_by_playback_id("pb-1") == upload
    assert await repository.get("missing") is None
    assert await repository.get_by_playback_id("missing") is None


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(upload=stored_uploads())
async def test_any_upload_round_trips_exactly_with_aware_utc_timestamps(
    repository: Repository, upload: MediaUpload
) -> None:
    """Every field, metadata and timestamps in any zone come back equal, as aware UTC times."""
    await repository.add(upload)
    stored = await repository.get(upload.id)
    assert stored == upload
    assert stored is not None
    for value in (stored.created_at, stored.updated_at, stored.ready_at, stored.uploaded_at):
        assert value is None or value.utcoffset() == timedelta(0)
    updated = attrs.evolve(stored, progress=(stored.progress + 1) % 101)
    assert await repository.update(updated, expected_version=stored.version) == attrs.evolve(
        updated, version=stored.version + 1
    )
    assert await repository.get(upload.id) == attrs.evolve(updated, version=stored.version + 1)


async def test_naive_timestamps_are_refused(repository: Repository) -> None:
    """A naive datetime has no instant, so storing one is a programming error."""
    with pytest.raises(ValueError, match="aware"):
        await repository.add(make_upload(created_at=datetime(2026, 1, 1)))


async def test_a_returned_upload_shares_no_state_with_the_store(repository: Repository) -> None:
    """Mutating the metadata dict of an upload after ``add`` or ``get`` changes nothing stored."""
    upload = make_upload()
    upload = attrs.evolve(upload, metadata=attrs.evolve(upload.metadata, extra={"k": "v"}))
    await repository.add(upload)
    upload.metadata.extra["k"] = "changed"
    fetched = await repository.get(upload.id)
    assert fetched is not None
    assert fetched.metadata.extra == {"k": "v"}
    fetched.metadata.extra["k"] = "changed again"
    again = await repository.get(upload.id)
    assert again is not None
    assert again.metadata.extra == {"k": "v"}


async def test_unique_keys_are_enforced_on_add(repository: Repository) -> None:
    """Id, playback id and (provider, provider upload id) are unique; absent ones never clash."""
    first = make_upload(playback_id="pb-1", provider_upload_id="pu-1")
    await repository.add(first)
    await repository.add(make_upload())  # no playback id, no provider upload id
    await repository.add(make_upload())
    await repository.add(make_upload(provider="mux", provider_upload_id="pu-1"))
    for clash in (
        make_upload(first.id),
        make_upload(playback_id="pb-1"),
        make_upload(provider_upload_id="pu-1"),
    ):
        with pytest.raises(Conflict):
            await repository.add(clash)
        assert await repository.get(clash.id) == (first if clash.id == first.id else None)


async def test_find_for_event_follows_the_precedence_of_references(
    repository: Repository,
) -> None:
    """Our id wins, then provider upload id, then asset id, then playback id; misses fall on."""
    by_id = make_upload()
    by_upload = make_upload(provider_upload_id="pu-1")
    by_asset = make_upload(provider_asset_id="as-1")
    by_playback = make_upload(playback_id="pb-1")
    for upload in (by_id, by_upload, by_asset, by_playback):
        await repository.add(upload)
    everything = {"provider_upload_id": "pu-1", "asset_id": "as-1", "playback_id": "pb-1"}
    assert await repository.find_for_event(_event(upload_id=by_id.id, **everything)) == by_id
    assert await repository.find_for_event(_event(**everything)) == by_upload
    assert await repository.find_for_event(_event(asset_id="as-1", playback_id="pb-1")) == by_asset
    assert await repository.find_for_event(_event(playback_id="pb-1")) == by_playback
    assert (
        await repository.find_for_event(
            _event(upload_id="nope", provider_upload_id="x", asset_id="y", playback_id="pb-1")
        )
        == by_playback
    )
    assert await repository.find_for_event(_event(upload_id="nope")) is None


async def test_find_for_event_scopes_provider_ids_to_the_events_provider(
    repository: Repository,
) -> None:
    """Another provider's upload or asset id with the same value is not this upload."""
    upload = make_upload(provider_upload_id="pu-1", provider_asset_id="as-1")
    await repository.add(upload)
    assert (
        await repository.find_for_event(_event(provider="mux", provider_upload_id="pu-1")) is None
    )
    assert await repository.find_for_event(_event(provider="mux", asset_id="as-1")) is None
    assert await repository.find_for_event(_event(asset_id="as-1")) == upload


async def test_update_stores_the_next_version_and_returns_it(repository: Repository) -> None:
    """An update at the stored version succeeds and bumps the version by exactly one."""
    upload = make_upload()
    await repository.add(upload)
    changed = _processing(upload, 10)
    stored = await repository.update(changed, expected_version=0)
    assert stored == attrs.evolve(changed, version=1)
    assert await repository.get(upload.id) == stored
    again = await repository.update(_processing(stored, 20), expected_version=1)
    assert again.version == 2
    assert await repository.get(upload.id) == again


async def test_update_at_a_stale_version_is_a_conflict_and_writes_nothing(
    repository: Repository,
) -> None:
    """A writer that read version 0 after someone stored version 1 loses, without overwriting."""
    upload = make_upload()
    await repository.add(upload)
    winner = await repository.update(_processing(upload, 10), expected_version=0)
    with pytest.raises(VersionConflict):
        await repository.update(_processing(upload, 50), expected_version=0)
    assert await repository.get(upload.id) == winner


async def test_update_of_a_missing_upload_is_a_conflict(repository: Repository) -> None:
    """An upload deleted meanwhile cannot be updated (and is not re-created)."""
    with pytest.raises(VersionConflict):
        await repository.update(make_upload("gone"), expected_version=0)
    assert await repository.get("gone") is None


async def test_update_with_a_delivery_records_it_once(
    repository: Repository, clock: FrozenClock
) -> None:
    """The delivery is recorded with the update; the same delivery again is refused whole."""
    upload = make_upload()
    await repository.add(upload)
    assert not await repository.has_delivery(KEY)
    stored = await repository.update(_processing(upload, 10), expected_version=0, delivery=KEY)
    assert await repository.has_delivery(KEY)
    with pytest.raises(DuplicateDelivery):
        await repository.update(_processing(stored, 90), expected_version=1, delivery=KEY)
    assert await repository.get(upload.id) == stored
    assert not await repository.record_delivery(KEY, clock.now())


async def test_a_version_conflict_leaves_the_delivery_unrecorded(repository: Repository) -> None:
    """Losing the version race records nothing, so the delivery can still be applied later."""
    upload = make_upload()
    await repository.add(upload)
    winner = await repository.update(_processing(upload, 10), expected_version=0)
    with pytest.raises(VersionConflict):
        await repository.update(_processing(upload, 50), expected_version=0, delivery=KEY)
    assert not await repository.has_delivery(KEY)
    assert await repository.get(upload.id) == winner
    retried = await repository.update(_processing(winner, 50), expected_version=1, delivery=KEY)
    assert retried.version == 2
    assert await repository.has_delivery(KEY)


async def test_a_unique_key_clash_on_update_writes_nothing(repository: Repository) -> None:
    """Taking another upload's playback id fails as a conflict, with no delivery recorded."""
    other = make_upload(playback_id="pb-1")
    upload = make_upload()
    await repository.add(other)
    await repository.add(upload)
    with pytest.raises(Conflict):
        await repository.update(
            attrs.evolve(upload, playback_id="pb-1"), expected_version=0, delivery=KEY
        )
    assert await repository.get(upload.id) == upload
    assert not await repository.has_delivery(KEY)


def _next(upload: MediaUpload, progress: int) -> Transition:
    """The change a PROCESSING event with ``progress`` makes, as the state machine makes it."""
    event = attrs.evolve(_event(upload_id=upload.id), progress=progress)
    return apply_event(upload, event, T0 + timedelta(minutes=1))


class _Decisions:
    """A ``decide`` function that remembers what it was shown."""

    def __init__(self, answer: Callable[[MediaUpload], Transition | None]) -> None:
        self.answer = answer
        self.seen: list[MediaUpload] = []

    def __call__(self, upload: MediaUpload) -> Transition | None:
        self.seen.append(upload)
        return self.answer(upload)


async def test_write_event_stores_the_change_with_the_delivery_once(
    repository: Repository,
) -> None:
    """APPLIED stores the next version and the delivery; the same delivery again writes
    nothing (DUPLICATE), whatever the decision."""
    upload = make_upload()
    await repository.add(upload)
    decide = _Decisions(lambda current: _next(current, 10))
    written = await repository.write_event(_event(upload_id=upload.id), decide, KEY, T0)
    assert written.outcome is EventWriteOutcome.APPLIED
    assert decide.seen == [upload]
    assert written.found == upload
    assert written.transition is not None
    stored = await repository.get(upload.id)
    assert stored == written.transition.upload
    assert stored is not None
    assert stored.version == 1
    assert stored.progress == 10
    assert await repository.has_delivery(KEY)
    again = await repository.write_event(
        _event(upload_id=upload.id), _Decisions(lambda current: _next(current, 50)), KEY, T0
    )
    assert again.outcome is EventWriteOutcome.DUPLICATE
    assert again.found == stored
    assert await repository.get(upload.id) == stored


@pytest.mark.parametrize("replace", [False, True], ids=["kept", "replaced"])
async def test_write_event_stores_kept_and_replaced_metadata_and_times(
    repository: Repository, replace: bool
) -> None:
    """What a change keeps (metadata, times) and what it replaces both read back as the new
    version: the SQLite store writes kept values from their stored text, replaced ones anew."""
    upload = make_upload(
        metadata=UploadMetadata(title="Mine", description="d", extra={"k": "v", "é": "ü"}),
        upload_expires_at=T0 + timedelta(hours=1),
    )
    await repository.add(upload)

    def change(current: MediaUpload) -> Transition:
        moved = _next(current, 30)
        if not replace:
            return moved
        updated = attrs.evolve(
            moved.upload,
            metadata=UploadMetadata(title="Theirs", extra={"n": "1"}),
            upload_expires_at=T0 + timedelta(hours=2),
            created_at=current.created_at + timedelta(seconds=1),
        )
        return attrs.evolve(moved, upload=updated)

    written = await repository.write_event(_event(upload_id=upload.id), change, KEY, T0)
    assert written.outcome is EventWriteOutcome.APPLIED
    assert written.transition is not None
    stored = await repository.get(upload.id)
    assert stored == written.transition.upload
    assert stored is not None
    assert stored.metadata.title == ("Theirs" if replace else "Mine")


async def test_write_event_records_an_unchanging_delivery_once(repository: Repository) -> None:
    """A decision that changes nothing records the delivery (UNCHANGED), then DUPLICATE."""
    upload = make_upload()
    await repository.add(upload)

    def unchanged(current: MediaUpload) -> Transition:
        return Transition(upload=current, events=(), changed=False)

    first = await repository.write_event(_event(upload_id=upload.id), unchanged, KEY, T0)
    second = await repository.write_event(_event(upload_id=upload.id), unchanged, KEY, T0)
    assert (first.outcome, second.outcome) == (
        EventWriteOutcome.UNCHANGED,
        EventWriteOutcome.DUPLICATE,
    )
    assert await repository.has_delivery(KEY)
    assert await repository.get(upload.id) == upload


async def test_write_event_for_no_upload_of_ours_writes_nothing(repository: Repository) -> None:
    """No upload found, or the decision says it is not the event's: UNKNOWN, nothing recorded."""
    upload = make_upload(provider_upload_id="pu-1")
    await repository.add(upload)
    missing = await repository.write_event(
        _event(upload_id="nope"), _Decisions(lambda current: _next(current, 10)), KEY, T0
    )
    assert missing.outcome is EventWriteOutcome.UNKNOWN
    assert missing.found is None
    refused = await repository.write_event(
        _event(upload_id=upload.id), _Decisions(lambda _: None), KEY, T0
    )
    assert refused.outcome is EventWriteOutcome.UNKNOWN
    assert refused.found == upload
    assert not await repository.has_delivery(KEY)
    assert await repository.get(upload.id) == upload


async def test_write_event_finds_the_upload_by_the_providers_references(
    repository: Repository,
) -> None:
    """Without our id (or with one that matches nothing) the provider's ids find the upload."""
    upload = make_upload(provider_upload_id="pu-1")
    await repository.add(upload)
    events = (_event(provider_upload_id="pu-1"), _event(upload_id="x", provider_upload_id="pu-1"))
    for progress, event in enumerate(events, start=1):
        decide = _Decisions(lambda current, progress=progress: _next(current, progress * 10))
        key = DeliveryKey(provider="fake", delivery_id=f"d-{progress}")
        written = await repository.write_event(event, decide, key, T0)
        assert decide.seen[0].id == upload.id
        assert written.outcome is EventWriteOutcome.APPLIED
    stored = await repository.get(upload.id)
    assert stored is not None
    assert (stored.progress, stored.version) == (20, 2)


async def test_write_event_that_takes_a_unique_key_writes_nothing(repository: Repository) -> None:
    """A change that takes another upload's playback id raises Conflict; no delivery stays."""
    await repository.add(make_upload(playback_id="pb-1"))
    upload = make_upload()
    await repository.add(upload)

    def take(current: MediaUpload) -> Transition:
        taken = attrs.evolve(current, playback_id="pb-1", version=current.version + 1)
        return Transition(upload=taken, events=(), changed=True)

    with pytest.raises(Conflict):
        await repository.write_event(_event(upload_id=upload.id), take, KEY, T0)
    assert await repository.get(upload.id) == upload
    assert not await repository.has_delivery(KEY)


async def test_record_delivery_is_true_once_per_provider_and_id(repository: Repository) -> None:
    """A delivery is recorded once; the same id from another provider is another delivery."""
    assert await repository.record_delivery(KEY, T0)
    assert not await repository.record_delivery(KEY, T0 + timedelta(hours=1))
    other = DeliveryKey(provider="mux", delivery_id=KEY.delivery_id)
    assert not await repository.has_delivery(other)
    assert await repository.record_delivery(other, T0)
    assert await repository.has_delivery(KEY)
    assert await repository.has_delivery(other)


async def test_prune_forgets_only_deliveries_older_than_the_cutoff(
    repository: Repository, clock: FrozenClock
) -> None:
    """Pruning uses the time each delivery was received, from ``update`` as from ``record``."""
    upload = make_upload()
    await repository.add(upload)
    old = DeliveryKey(provider="fake", delivery_id="old")
    await repository.record_delivery(old, T0 - timedelta(hours=80))
    clock.now_value = T0 - timedelta(hours=73)
    via_update = DeliveryKey(provider="fake", delivery_id="via-update")
    await repository.update(_processing(upload, 5), expected_version=0, delivery=via_update)
    recent = DeliveryKey(provider="fake", delivery_id="recent")
    await repository.record_delivery(
        recent, (T0 - timedelta(hours=71)).astimezone(timezone(timedelta(hours=-3)))
    )
    assert await repository.prune_deliveries(T0 - timedelta(hours=72)) == 2
    assert not await repository.has_delivery(old)
    assert not await repository.has_delivery(via_update)
    assert await repository.has_delivery(recent)
    assert await repository.prune_deliveries(T0 - timedelta(hours=72)) == 0


async def test_listing_pages_newest_first_through_equal_timestamps(repository: Repository) -> None:
    """Pages follow (created_at, id) descending with no gap or repeat, ties broken by id."""
    uploads = [
        make_upload(f"u{i:02d}", created_at=T0 + timedelta(minutes=i // 3), updated_at=T0)
        for i in range(11)
    ]
    for upload in reversed(uploads[::2]):
        await repository.add(upload)
    for upload in uploads[1::2]:
        await repository.add(upload)
    await repository.add(make_upload(owner_id="someone-else", created_at=T0 + timedelta(days=1)))
    expected = sorted(uploads, key=lambda u: (u.created_at, u.id), reverse=True)

    seen: list[MediaUpload] = []
    cursor: str | None = None
    pages = 0
    for _ in range(10):
        page = await repository.list_for_owner("owner-1", limit=3, cursor=cursor)
        pages += 1
        assert len(page.items) == (3 if page.next_cursor else 2)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 4
    assert seen == expected


async def test_a_last_full_page_has_no_cursor_and_an_empty_listing_is_empty(
    repository: Repository,
) -> None:
    """When the uploads fill the page exactly there is no next page; no uploads, no items."""
    for i in range(2):
        await repository.add(make_upload(created_at=T0 + timedelta(seconds=i)))
    page = await repository.list_for_owner("owner-1", limit=2, cursor=None)
    assert len(page.items) == 2
    assert page.next_cursor is None
    empty = await repository.list_for_owner("nobody", limit=5, cursor=None)
    assert empty.items == ()
    assert empty.next_cursor is None


@pytest.mark.parametrize("cursor", ["not base64 at all!", "bm9wZQ", "WyJ4IiwieSJd", ""])
async def test_a_forged_cursor_is_invalid_input(repository: Repository, cursor: str) -> None:
    """A cursor the repository did not make is refused as invalid input, naming the field."""
    with pytest.raises(InvalidInput) as caught:
        await repository.list_for_owner("owner-1", limit=2, cursor=cursor)
    assert caught.value.field == "cursor"


async def test_delete_removes_one_upload_and_tolerates_a_missing_one(
    repository: Repository,
) -> None:
    """``delete`` removes exactly the named upload; deleting it again is not an error."""
    gone, kept = make_upload(playback_id="pb-gone"), make_upload()
    await repository.add(gone)
    await repository.add(kept)
    await repository.delete(gone.id)
    await repository.delete(gone.id)
    assert await repository.get(gone.id) is None
    assert await repository.get_by_playback_id("pb-gone") is None
    assert await repository.get(kept.id) == kept
    await repository.add(make_upload(playback_id="pb-gone"))  # the unique key is free again


async def test_delete_all_for_user_removes_only_that_users_uploads(repository: Repository) -> None:
    """The host's user deletion removes every upload of that user and reports how many."""
    mine = [make_upload(owner_id="leaving") for _ in range(3)]
    theirs = make_upload(owner_id="staying")
    for upload in (*mine, theirs):
        await repository.add(upload)
    assert await repository.delete_all_for_user("leaving") == 3
    assert await repository.delete_all_for_user("leaving") == 0
    assert (await repository.list_for_owner("leaving", limit=10, cursor=None)).items == ()
    assert await repository.get(theirs.id) == theirs


async def test_terminal_uploads_round_trip_with_their_outcome(repository: Repository) -> None:
    """READY and FAILED uploads keep every field of their outcome."""
    ready = make_upload(
        status=UploadStatus.READY,
        progress=100,
        playback_id="pb-r",
        duration=12.345678901234,
        thumbnail_url="https://img.example/x.jpg",
        ready_at=T0.astimezone(timezone(timedelta(hours=2))),
    )
    failed = make_upload(
        status=UploadStatus.FAILED,
        failure_code=FailureCode.INVALID_FILE,
        failure_reason="not a video",
    )
    for upload in (ready, failed):
        await repository.add(upload)
        stored = await repository.get(upload.id)
        assert stored is not None
        assert stored.outcome() == upload.outcome()
        assert stored == upload
    stored_ready = await repository.get(ready.id)
    assert stored_ready is not None
    assert stored_ready.ready_at is not None
    assert stored_ready.ready_at.tzinfo == UTC
