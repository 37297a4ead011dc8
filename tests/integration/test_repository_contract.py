"""The ``MediaRepository`` contract, run unchanged against memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from adapters.repositories.memory import InMemoryMediaRepository
from adapters.repositories.sql import SqlMediaRepository
from media_core.errors import Conflict, DuplicateDelivery, InvalidInput, VersionConflict
from media_core.events import ProviderEvent, ProviderEventKind
from media_core.model import FailureCode, MediaUpload, UploadMetadata, UploadStatus
from media_core.ports import DeliveryKey
from media_core.state_machine import apply_event
from tests.strategies import stored_uploads
from tests.support.repositories import (
    T0,
    make_upload,
    open_repository,
)

Repository = InMemoryMediaRepository | SqlMediaRepository


@pytest.fixture
async def repository(backend: tuple[str, str | None], tmp_path: Path) -> AsyncIterator[Repository]:
    """An empty repository on the backend under test."""
    name, schema = backend
    async with open_repository(name, tmp_path=tmp_path, postgres_schema=schema) as repo:
        assert isinstance(repo, InMemoryMediaRepository | SqlMediaRepository)
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


async def test_record_delivery_with_a_change_stores_both_once(repository: Repository) -> None:
    """The change and its delivery are stored together; the same delivery again is refused
    whole, whatever change it brings."""
    upload = make_upload()
    await repository.add(upload)
    assert not await repository.has_delivery(KEY)
    change = _next(upload, 10)
    await repository.record_delivery(KEY, T0, change=change)
    assert await repository.has_delivery(KEY)
    assert await repository.get(upload.id) == change
    with pytest.raises(DuplicateDelivery):
        await repository.record_delivery(KEY, T0, change=_next(change, 90))
    with pytest.raises(DuplicateDelivery):
        await repository.record_delivery(KEY, T0)
    assert await repository.get(upload.id) == change


async def test_a_version_conflict_leaves_the_delivery_unrecorded(repository: Repository) -> None:
    """Losing the version race records nothing, so the delivery can still be applied later."""
    upload = make_upload()
    await repository.add(upload)
    winner = await repository.update(_processing(upload, 10), expected_version=0)
    with pytest.raises(VersionConflict):
        await repository.record_delivery(KEY, T0, change=_next(upload, 50))
    assert not await repository.has_delivery(KEY)
    assert await repository.get(upload.id) == winner
    retried = _next(winner, 50)
    await repository.record_delivery(KEY, T0, change=retried)
    assert await repository.get(upload.id) == retried
    assert retried.version == 2
    assert await repository.has_delivery(KEY)


async def test_a_change_to_a_missing_upload_is_a_conflict_and_records_nothing(
    repository: Repository,
) -> None:
    """An upload deleted since it was read is not re-created, and its delivery not recorded."""
    upload = make_upload("gone")
    with pytest.raises(VersionConflict):
        await repository.record_delivery(KEY, T0, change=_next(upload, 10))
    assert await repository.get("gone") is None
    assert not await repository.has_delivery(KEY)


async def test_a_unique_key_clash_on_update_writes_nothing(repository: Repository) -> None:
    """Taking another upload's playback id fails as a conflict, with no delivery recorded."""
    other = make_upload(playback_id="pb-1")
    upload = make_upload()
    await repository.add(other)
    await repository.add(upload)
    taken = attrs.evolve(upload, playback_id="pb-1", version=1)
    with pytest.raises(Conflict):
        await repository.update(taken, expected_version=0)
    with pytest.raises(Conflict):
        await repository.record_delivery(KEY, T0, change=taken)
    assert await repository.get(upload.id) == upload
    assert not await repository.has_delivery(KEY)


def _next(upload: MediaUpload, progress: int) -> MediaUpload:
    """The change a PROCESSING event with ``progress`` makes, as the state machine makes it."""
    event = attrs.evolve(_event(upload_id=upload.id), progress=progress)
    transition = apply_event(upload, event, T0 + timedelta(minutes=1))
    assert transition.changed
    return transition.upload


@pytest.mark.parametrize("replace", [False, True], ids=["kept", "replaced"])
async def test_a_change_stores_kept_and_replaced_metadata_and_times(
    repository: Repository, replace: bool
) -> None:
    """What a change keeps (metadata, times) and what it replaces both read back as the new
    version."""
    upload = make_upload(
        metadata=UploadMetadata(title="Mine", description="d", extra={"k": "v", "é": "ü"}),
        upload_expires_at=T0 + timedelta(hours=1),
    )
    await repository.add(upload)
    change = _next(upload, 30)
    if replace:
        change = attrs.evolve(
            change,
            metadata=UploadMetadata(title="Theirs", extra={"n": "1"}),
            upload_expires_at=T0 + timedelta(hours=2),
            created_at=upload.created_at + timedelta(seconds=1),
        )
    await repository.record_delivery(KEY, T0, change=change)
    stored = await repository.get(upload.id)
    assert stored == change
    assert stored is not None
    assert stored.metadata.title == ("Theirs" if replace else "Mine")


async def test_a_delivery_without_a_change_is_recorded_once_per_provider_and_id(
    repository: Repository,
) -> None:
    """A delivery is recorded once; the same id from another provider is another delivery."""
    upload = make_upload()
    await repository.add(upload)
    await repository.record_delivery(KEY, T0)
    with pytest.raises(DuplicateDelivery):
        await repository.record_delivery(KEY, T0 + timedelta(hours=1))
    other = DeliveryKey(provider="mux", delivery_id=KEY.delivery_id)
    assert not await repository.has_delivery(other)
    await repository.record_delivery(other, T0)
    assert await repository.has_delivery(KEY)
    assert await repository.has_delivery(other)
    assert await repository.get(upload.id) == upload


async def test_prune_forgets_only_deliveries_older_than_the_cutoff(repository: Repository) -> None:
    """Pruning uses the time each delivery was received, with a change or without one."""
    upload = make_upload()
    await repository.add(upload)
    old = DeliveryKey(provider="fake", delivery_id="old")
    await repository.record_delivery(old, T0 - timedelta(hours=80))
    with_change = DeliveryKey(provider="fake", delivery_id="with-change")
    await repository.record_delivery(with_change, T0 - timedelta(hours=73), change=_next(upload, 5))
    recent = DeliveryKey(provider="fake", delivery_id="recent")
    await repository.record_delivery(
        recent, (T0 - timedelta(hours=71)).astimezone(timezone(timedelta(hours=-3)))
    )
    assert await repository.prune_deliveries(T0 - timedelta(hours=72)) == 2
    assert not await repository.has_delivery(old)
    assert not await repository.has_delivery(with_change)
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
    assert caught.value.field == "?cursor"  # a query parameter


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
