"""An in-memory ``MediaRepository``: the fake for tests and the ``memory://`` store for demos.

It keeps the same promises as the SQL adapter (the contract suite in
``tests/integration/test_repository_contract.py`` runs unchanged against both): the same unique
keys, the same atomic ``update``, the same listing order and cursor. No method awaits while it
reads or changes the store, so each call is atomic for every other task on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import attrs

from adapters.repositories._common import check_limit, decode_cursor, encode_cursor, normalized
from adapters.system import SystemClock
from media_core.errors import Conflict, DuplicateDelivery, VersionConflict
from media_core.events import ProviderEvent
from media_core.model import MediaUpload, Page
from media_core.ports import Clock, DeliveryKey


class InMemoryMediaRepository:
    """Uploads and webhook deliveries in dictionaries; lost when the process ends.

    ``clock`` stamps deliveries recorded by ``update`` (default: the system clock, UTC).
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._uploads: dict[str, MediaUpload] = {}
        self._deliveries: dict[DeliveryKey, datetime] = {}

    async def add(self, upload: MediaUpload) -> None:
        """Insert a new upload; ``Conflict`` if its id or a unique provider key is taken."""
        stored = normalized(upload)
        if stored.id in self._uploads:
            raise Conflict(f"upload {stored.id} already exists")
        self._check_unique(stored)
        self._uploads[stored.id] = stored

    async def get(self, upload_id: str) -> MediaUpload | None:
        """The upload with our id ``upload_id``."""
        upload = self._uploads.get(upload_id)
        return normalized(upload) if upload is not None else None

    async def get_by_playback_id(self, playback_id: str) -> MediaUpload | None:
        """The upload with this playback id."""
        return self._first(lambda upload: upload.playback_id == playback_id)

    async def find_for_event(self, event: ProviderEvent) -> MediaUpload | None:
        """The upload an event refers to: by our id, else provider upload, asset or playback id.

        Each reference the event carries is tried in that order; the first that matches wins.
        Provider upload and asset ids are looked up within the event's provider.
        """
        if event.upload_id is not None and event.upload_id in self._uploads:
            return normalized(self._uploads[event.upload_id])
        if event.provider_upload_id is not None:
            found = self._first(
                lambda upload: (
                    upload.provider == event.provider
                    and upload.provider_upload_id == event.provider_upload_id
                )
            )
            if found is not None:
                return found
        if event.asset_id is not None:
            found = self._first(
                lambda upload: (
                    upload.provider == event.provider and upload.provider_asset_id == event.asset_id
                )
            )
            if found is not None:
                return found
        if event.playback_id is not None:
            return self._first(lambda upload: upload.playback_id == event.playback_id)
        return None

    async def update(
        self, upload: MediaUpload, *, expected_version: int, delivery: DeliveryKey | None = None
    ) -> MediaUpload:
        """Store ``upload`` as version ``expected_version + 1`` if nobody changed it meanwhile.

        ``DuplicateDelivery`` if ``delivery`` was recorded before, ``VersionConflict`` if the
        stored version differs (or the upload is gone), ``Conflict`` if a unique key is taken;
        nothing is written in any of these cases.
        """
        stored = normalized(attrs.evolve(upload, version=expected_version + 1))
        if delivery is not None and delivery in self._deliveries:
            raise DuplicateDelivery(f"delivery {delivery.delivery_id} was applied before")
        current = self._uploads.get(stored.id)
        if current is None or current.version != expected_version:
            raise VersionConflict(f"upload {stored.id} is not at version {expected_version}")
        self._check_unique(stored)
        self._uploads[stored.id] = stored
        if delivery is not None:
            self._deliveries[delivery] = self._clock.now().astimezone(UTC)
        return normalized(stored)

    async def record_delivery(self, delivery: DeliveryKey, received_at: datetime) -> bool:
        """Record a delivery that changed nothing; False if it was recorded before."""
        if delivery in self._deliveries:
            return False
        self._deliveries[delivery] = received_at.astimezone(UTC)
        return True

    async def has_delivery(self, delivery: DeliveryKey) -> bool:
        """True if the delivery was recorded."""
        return delivery in self._deliveries

    async def prune_deliveries(self, older_than: datetime) -> int:
        """Forget deliveries received before ``older_than``; returns how many."""
        old = [key for key, received in self._deliveries.items() if received < older_than]
        for key in old:
            del self._deliveries[key]
        return len(old)

    async def list_for_owner(self, owner_id: str, *, limit: int, cursor: str | None) -> Page:
        """The owner's uploads, newest first (``created_at``, then id, descending)."""
        check_limit(limit)
        mine = sorted(
            (upload for upload in self._uploads.values() if upload.owner_id == owner_id),
            key=lambda upload: (upload.created_at, upload.id),
            reverse=True,
        )
        if cursor is not None:
            after = decode_cursor(cursor)
            mine = [upload for upload in mine if (upload.created_at, upload.id) < after]
        items = tuple(normalized(upload) for upload in mine[:limit])
        next_cursor = None
        if len(mine) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return Page(items=items, next_cursor=next_cursor)

    async def delete(self, upload_id: str) -> None:
        """Remove one upload record; an unknown id is not an error."""
        self._uploads.pop(upload_id, None)

    async def delete_all_for_user(self, owner_id: str) -> int:
        """Remove every upload of ``owner_id``; returns how many."""
        doomed = [key for key, upload in self._uploads.items() if upload.owner_id == owner_id]
        for key in doomed:
            del self._uploads[key]
        return len(doomed)

    def _first(self, match: Callable[[MediaUpload], bool]) -> MediaUpload | None:
        for upload in self._uploads.values():
            if match(upload):
                return normalized(upload)
        return None

    def _check_unique(self, candidate: MediaUpload) -> None:
        for other in self._uploads.values():
            if other.id == candidate.id:
                continue
            if candidate.playback_id is not None and other.playback_id == candidate.playback_id:
                raise Conflict(f"playback id {candidate.playback_id} belongs to another upload")
            if (
                candidate.provider_upload_id is not None
                and other.provider == candidate.provider
                and other.provider_upload_id == candidate.provider_upload_id
            ):
                raise Conflict(
                    f"provider upload {candidate.provider_upload_id} belongs to another upload"
                )
