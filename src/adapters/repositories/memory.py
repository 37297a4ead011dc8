"""An in-memory ``MediaRepository``: the fake for tests and the ``memory://`` store for demos.

It keeps the same promises as the SQL adapters (the contract suite in
``tests/integration/test_repository_contract.py`` runs unchanged against all of them): the same
unique keys, the same atomic ``update`` and ``record_delivery``, the same listing order and
cursor. No method awaits while it reads or changes the store, so each call is atomic for every
other task on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import attrs

from adapters.repositories._common import (
    check_limit,
    decode_cursor,
    encode_cursor,
    is_stale,
    normalized,
)
from media_core.errors import Conflict, DuplicateDelivery, VersionConflict
from media_core.events import ProviderEvent
from media_core.model import FailureCode, MediaUpload, Page, UploadStatus
from media_core.ports import (
    DeliveryKey,
    DirectUploadTicket,
    IdempotencyRecord,
    StaleCriteria,
    StorageTally,
    Usage,
)


class InMemoryMediaRepository:
    """Uploads and webhook deliveries in dictionaries; lost when the process ends."""

    def __init__(self) -> None:
        self._uploads: dict[str, MediaUpload] = {}
        self._deliveries: dict[DeliveryKey, datetime] = {}
        self._leases: dict[str, datetime] = {}
        self._idempotency: dict[tuple[str, str], IdempotencyRecord] = {}

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

    async def update(self, upload: MediaUpload, *, expected_version: int) -> MediaUpload:
        """Store ``upload`` as version ``expected_version + 1`` if nobody changed it meanwhile.

        ``VersionConflict`` if the stored version differs (or the upload is gone), ``Conflict``
        if a unique key is taken; nothing is written in either case.
        """
        stored = self._checked(upload, expected_version)
        self._uploads[stored.id] = stored
        return normalized(stored)

    async def record_delivery(
        self, delivery: DeliveryKey, received_at: datetime, *, change: MediaUpload | None = None
    ) -> None:
        """Record ``delivery`` with the ``change`` it made (see the port); all or nothing."""
        if delivery in self._deliveries:
            raise DuplicateDelivery(f"delivery {delivery.delivery_id} was applied before")
        if change is not None:
            self._uploads[change.id] = self._checked(change, change.version - 1)
        self._deliveries[delivery] = received_at.astimezone(UTC)

    async def has_delivery(self, delivery: DeliveryKey) -> bool:
        """True if the delivery was recorded."""
        return delivery in self._deliveries

    async def prune_deliveries(self, older_than: datetime) -> int:
        """Forget deliveries received before ``older_than``; returns how many."""
        old = [key for key, received in self._deliveries.items() if received < older_than]
        for key in old:
            del self._deliveries[key]
        return len(old)

    async def claim_stale(self, criteria: StaleCriteria) -> Sequence[MediaUpload]:
        """Lease up to ``criteria.limit`` stale unfinished uploads, oldest change first."""
        check_limit(criteria.limit)
        stale = sorted(
            (
                upload
                for upload in self._uploads.values()
                if self._leases.get(upload.id, criteria.now) <= criteria.now
                and is_stale(upload, criteria)
            ),
            key=lambda upload: (upload.updated_at, upload.id),
        )[: criteria.limit]
        for upload in stale:
            self._leases[upload.id] = criteria.lease_until
        return tuple(normalized(upload) for upload in stale)

    async def get_idempotency_key(self, owner_id: str, key: str) -> IdempotencyRecord | None:
        """The request remembered under ``owner_id`` and ``key``."""
        return self._idempotency.get((owner_id, key))

    async def claim_idempotency_key(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store ``record`` unless its (owner, key) exists; return what is stored."""
        return self._idempotency.setdefault((record.owner_id, record.key), record)

    async def complete_idempotency_key(
        self, owner_id: str, key: str, upload_id: str, ticket: DirectUploadTicket
    ) -> None:
        """Attach ``ticket`` to the record of ``upload_id`` under ``key``."""
        record = self._idempotency.get((owner_id, key))
        if record is not None and record.upload_id == upload_id:
            self._idempotency[(owner_id, key)] = attrs.evolve(record, ticket=ticket)

    async def release_idempotency_key(self, owner_id: str, key: str, upload_id: str) -> None:
        """Forget ``key`` if it still refers to ``upload_id``."""
        record = self._idempotency.get((owner_id, key))
        if record is not None and record.upload_id == upload_id:
            del self._idempotency[(owner_id, key)]

    async def prune_idempotency_keys(self, older_than: datetime) -> int:
        """Forget keys created before ``older_than``; returns how many."""
        old = [k for k, record in self._idempotency.items() if record.created_at < older_than]
        for k in old:
            del self._idempotency[k]
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

    async def usage_for_owner(self, owner_id: str) -> Usage:
        """Declared bytes and count of the owner's uploads that did not fail."""
        mine = [
            upload
            for upload in self._uploads.values()
            if upload.owner_id == owner_id and upload.status is not UploadStatus.FAILED
        ]
        return Usage(bytes=sum(upload.file_size for upload in mine), count=len(mine))

    async def storage_tallies(self) -> tuple[StorageTally, ...]:
        """Count and declared bytes per (provider, status), sorted by provider then status."""
        totals: dict[tuple[str, UploadStatus], tuple[int, int, int]] = {}
        for upload in self._uploads.values():
            count, size, cancelled = totals.get((upload.provider, upload.status), (0, 0, 0))
            cancelled += upload.failure_code is FailureCode.CANCELLED
            totals[(upload.provider, upload.status)] = (
                count + 1,
                size + upload.file_size,
                cancelled,
            )
        return tuple(
            StorageTally(
                provider=provider, status=status, count=count, bytes=size, cancelled=cancelled
            )
            for (provider, status), (count, size, cancelled) in sorted(
                totals.items(), key=lambda item: (item[0][0], item[0][1].value)
            )
        )

    async def recent_ready(self, limit: int) -> tuple[MediaUpload, ...]:
        """Up to ``limit`` READY uploads, the most recently changed first."""
        check_limit(limit)
        ready = sorted(
            (u for u in self._uploads.values() if u.status is UploadStatus.READY),
            key=lambda upload: (upload.updated_at, upload.id),
            reverse=True,
        )
        return tuple(normalized(upload) for upload in ready[:limit])

    async def ping(self) -> None:
        """Nothing to reach: the store is this process's memory."""

    def _first(self, match: Callable[[MediaUpload], bool]) -> MediaUpload | None:
        for upload in self._uploads.values():
            if match(upload):
                return normalized(upload)
        return None

    def _checked(self, upload: MediaUpload, expected_version: int) -> MediaUpload:
        """``upload`` as stored at ``expected_version + 1``, if that write is allowed."""
        stored = normalized(attrs.evolve(upload, version=expected_version + 1))
        current = self._uploads.get(stored.id)
        if current is None or current.version != expected_version:
            raise VersionConflict(f"upload {stored.id} is not at version {expected_version}")
        self._check_unique(stored)
        return stored

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
