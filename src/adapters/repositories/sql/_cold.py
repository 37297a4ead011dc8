"""What the two SQL repositories share: the queries off the hot path, through SQLAlchemy Core.

Listing, the reconciler's claim, idempotency keys, pruning and the aggregates run as Core
statements on the engine; SQLAlchemy compiles them for either engine, and their cost is small
beside the work they do. The hot statements are each repository's own (``_statements.py``).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.repositories._common import check_limit, decode_cursor, encode_cursor
from adapters.repositories.sql._codec import decode_upload
from adapters.repositories.sql._errors import translate_errors
from adapters.repositories.sql._idempotency_codec import decode_idempotency_record, ticket_json
from adapters.repositories.sql._schema import (
    idempotency_keys,
    local_jobs,
    media_uploads,
    webhook_deliveries,
)
from media_core import ports
from media_core.events import ProviderEvent
from media_core.model import FailureCode, MediaUpload, Page, UploadStatus


class ColdQueries(abc.ABC):
    """The part of ``MediaRepository`` both SQL repositories run through SQLAlchemy Core.

    A database that cannot be reached, times out or drops the connection raises
    ``RepositoryUnavailable``; every write is one transaction, rolled back on failure.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Reads run outside a transaction: one statement needs none, and autocommit spares the
        # BEGIN and ROLLBACK round trips of SQLAlchemy's implicit transaction.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._upsert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    @property
    def engine(self) -> AsyncEngine:
        """The engine this repository uses (the caller owns it and disposes of it)."""
        return self._engine

    @abc.abstractmethod
    async def get(self, upload_id: str) -> MediaUpload | None:
        """The upload with our id ``upload_id`` (each engine's own hot lookup)."""

    async def find_for_event(self, event: ProviderEvent) -> MediaUpload | None:
        """The upload an event refers to: by our id, else provider upload, asset or playback id.

        Each reference the event carries is tried in that order; the first that matches wins.
        Provider upload and asset ids are looked up within the event's provider.
        """
        if event.upload_id is not None:
            # The common case (every provider carries our id): one primary-key lookup.
            found = await self.get(event.upload_id)
            if found is not None:
                return found
        return await self._find_by_references(event)

    async def _find_by_references(self, event: ProviderEvent) -> MediaUpload | None:
        c = media_uploads.c
        conditions: list[sa.ColumnElement[bool]] = []
        if event.provider_upload_id is not None:
            conditions.append(
                sa.and_(
                    c.provider == event.provider, c.provider_upload_id == event.provider_upload_id
                )
            )
        if event.asset_id is not None:
            conditions.append(
                sa.and_(c.provider == event.provider, c.provider_asset_id == event.asset_id)
            )
        if event.playback_id is not None:
            conditions.append(c.playback_id == event.playback_id)
        if not conditions:
            return None
        # One round trip: fetch every candidate, then pick by precedence.
        precedence = sa.case(
            *((condition, rank) for rank, condition in enumerate(conditions)),
            else_=len(conditions),
        )
        query = sa.select(media_uploads).where(sa.or_(*conditions)).order_by(precedence).limit(1)
        with translate_errors("find_for_event"):
            async with self._reader.connect() as conn:
                row = (await conn.execute(query)).mappings().first()
        return decode_upload(row) if row is not None else None

    async def has_delivery(self, delivery: ports.DeliveryKey) -> bool:
        """True if the delivery was recorded."""
        c = webhook_deliveries.c
        query = sa.select(sa.literal(1)).where(
            c.provider == delivery.provider, c.delivery_id == delivery.delivery_id
        )
        with translate_errors("has_delivery"):
            async with self._reader.connect() as conn:
                return (await conn.execute(query)).first() is not None

    async def prune_deliveries(self, older_than: datetime) -> int:
        """Forget deliveries received before ``older_than``; returns how many.

        Keep at least 72 hours (Mux retries for about 24): a delivery forgotten too early
        would be applied again, which the state machine tolerates but reports as a change.
        """
        statement = webhook_deliveries.delete().where(webhook_deliveries.c.received_at < older_than)
        with translate_errors("prune_deliveries"):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return int(result.rowcount)

    async def claim_stale(self, criteria: ports.StaleCriteria) -> Sequence[MediaUpload]:
        """Lease up to ``criteria.limit`` stale unfinished uploads, oldest change first.

        One short transaction: ``UPDATE … SET reconcile_after = lease_until WHERE id IN (SELECT
        … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING *``. On PostgreSQL, rows another claimer
        holds locked are skipped rather than waited for, and once it commits their lease keeps
        them out; SQLite runs one writer at a time, so the statement is atomic there as it is.
        """
        check_limit(criteria.limit)
        c = media_uploads.c
        stale = sa.or_(
            sa.and_(
                c.status == UploadStatus.PROCESSING.value, c.updated_at < criteria.processing_before
            ),
            sa.and_(
                c.status == UploadStatus.UPLOADING.value,
                sa.or_(
                    sa.and_(c.provider_upload_id.is_(None), c.created_at < criteria.pending_before),
                    c.upload_expires_at <= criteria.now,
                    c.updated_at < criteria.uploading_before,
                ),
            ),
        )
        candidates = (
            sa.select(c.id)
            .where(stale, sa.or_(c.reconcile_after.is_(None), c.reconcile_after <= criteria.now))
            .order_by(c.updated_at, c.id)
            .limit(criteria.limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            media_uploads.update()
            .where(c.id.in_(candidates.scalar_subquery()))
            .values(reconcile_after=criteria.lease_until)
            .returning(media_uploads)
        )
        with translate_errors("claim_stale"):
            async with self._engine.begin() as conn:
                rows = (await conn.execute(statement)).mappings().all()
        claimed = [decode_upload(row) for row in rows]
        return sorted(claimed, key=lambda upload: (upload.updated_at, upload.id))

    async def get_idempotency_key(self, owner_id: str, key: str) -> ports.IdempotencyRecord | None:
        """The request remembered under ``owner_id`` and ``key``."""
        c = idempotency_keys.c
        query = sa.select(idempotency_keys).where(c.owner_id == owner_id, c.key == key)
        with translate_errors("get_idempotency_key"):
            async with self._reader.connect() as conn:
                row = (await conn.execute(query)).mappings().first()
        return decode_idempotency_record(row) if row is not None else None

    async def claim_idempotency_key(
        self, record: ports.IdempotencyRecord
    ) -> ports.IdempotencyRecord:
        """Insert ``record`` unless its (owner, key) exists; return the stored one.

        ``INSERT … ON CONFLICT DO NOTHING`` waits for a concurrent insert of the same key to
        commit (or roll back), so the read that follows sees the winner.
        """
        statement = (
            self._upsert(idempotency_keys)
            .values(
                owner_id=record.owner_id,
                key=record.key,
                fingerprint=record.fingerprint,
                upload_id=record.upload_id,
                ticket=None,
                created_at=record.created_at,
            )
            .on_conflict_do_nothing(index_elements=["owner_id", "key"])
        )
        c = idempotency_keys.c
        query = sa.select(idempotency_keys).where(
            c.owner_id == record.owner_id, c.key == record.key
        )
        with translate_errors("claim_idempotency_key"):
            async with self._engine.begin() as conn:
                await conn.execute(statement)
                row = (await conn.execute(query)).mappings().first()
        if row is None:  # released between our insert and our read: nobody holds it now
            return record
        return decode_idempotency_record(row)

    async def complete_idempotency_key(
        self, owner_id: str, key: str, upload_id: str, ticket: ports.DirectUploadTicket
    ) -> None:
        """Attach ``ticket`` to the record of ``upload_id`` under ``key``."""
        c = idempotency_keys.c
        statement = (
            idempotency_keys.update()
            .where(c.owner_id == owner_id, c.key == key, c.upload_id == upload_id)
            .values(ticket=ticket_json(ticket))
        )
        with translate_errors("complete_idempotency_key"):
            async with self._engine.begin() as conn:
                await conn.execute(statement)

    async def release_idempotency_key(self, owner_id: str, key: str, upload_id: str) -> None:
        """Forget ``key`` if it still refers to ``upload_id``."""
        c = idempotency_keys.c
        statement = idempotency_keys.delete().where(
            c.owner_id == owner_id, c.key == key, c.upload_id == upload_id
        )
        with translate_errors("release_idempotency_key"):
            async with self._engine.begin() as conn:
                await conn.execute(statement)

    async def prune_idempotency_keys(self, older_than: datetime) -> int:
        """Forget keys created before ``older_than``; returns how many."""
        statement = idempotency_keys.delete().where(idempotency_keys.c.created_at < older_than)
        with translate_errors("prune_idempotency_keys"):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return int(result.rowcount)

    async def list_for_owner(self, owner_id: str, *, limit: int, cursor: str | None) -> Page:
        """The owner's uploads, newest first (``created_at``, then id, descending)."""
        check_limit(limit)
        c = media_uploads.c
        query = (
            sa.select(media_uploads)
            .where(c.owner_id == owner_id)
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(limit + 1)
        )
        if cursor is not None:
            created_at, upload_id = decode_cursor(cursor)
            query = query.where(
                sa.or_(
                    c.created_at < created_at,
                    sa.and_(c.created_at == created_at, c.id < upload_id),
                )
            )
        with translate_errors("list_for_owner"):
            async with self._reader.connect() as conn:
                rows = (await conn.execute(query)).mappings().all()
        items = tuple(decode_upload(row) for row in rows[:limit])
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(items[-1].created_at, items[-1].id)
        return Page(items=items, next_cursor=next_cursor)

    async def delete(self, upload_id: str) -> None:
        """Remove one upload record; an unknown id is not an error."""
        with translate_errors("delete"):
            async with self._engine.begin() as conn:
                await conn.execute(media_uploads.delete().where(media_uploads.c.id == upload_id))

    async def delete_all_for_user(self, owner_id: str) -> int:
        """Remove every upload of ``owner_id``; returns how many."""
        statement = media_uploads.delete().where(media_uploads.c.owner_id == owner_id)
        with translate_errors("delete_all_for_user"):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return int(result.rowcount)

    async def usage_for_owner(self, owner_id: str) -> ports.Usage:
        """Bytes stored (see :func:`_stored_bytes`) and count of the owner's uploads that did
        not fail.

        One aggregate over the owner's rows (the listing index on ``owner_id`` finds them).
        """
        c = media_uploads.c
        query = (
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_stored_bytes()), 0))
            .select_from(_with_jobs())
            .where(c.owner_id == owner_id, c.status != UploadStatus.FAILED.value)
        )
        with translate_errors("usage_for_owner"):
            async with self._reader.connect() as conn:
                count, size = (await conn.execute(query)).one()
        return ports.Usage(bytes=int(size), count=int(count))

    async def storage_tallies(self) -> tuple[ports.StorageTally, ...]:
        """Count and bytes stored per (provider, status), sorted by provider then status.

        One ``GROUP BY`` that returns a handful of rows; it still reads every upload row (or
        the whole status index), so callers cache it (the metrics endpoint keeps it 15 s).
        """
        c = media_uploads.c
        cancelled = sa.func.sum(
            sa.case((c.failure_code == FailureCode.CANCELLED.value, 1), else_=0)
        )
        query = (
            sa.select(
                c.provider, c.status, sa.func.count(), sa.func.sum(_stored_bytes()), cancelled
            )
            .select_from(_with_jobs())
            .group_by(c.provider, c.status)
            .order_by(c.provider, c.status)
        )
        with translate_errors("storage_tallies"):
            async with self._reader.connect() as conn:
                rows = (await conn.execute(query)).all()
        return tuple(
            ports.StorageTally(
                provider=provider,
                status=UploadStatus(status),
                count=int(count),
                bytes=int(size),
                cancelled=int(cancelled or 0),
            )
            for provider, status, count, size, cancelled in rows
        )

    async def recent_ready(self, limit: int) -> tuple[MediaUpload, ...]:
        """Up to ``limit`` READY uploads, the most recently changed first (status index)."""
        check_limit(limit)
        c = media_uploads.c
        query = (
            sa.select(media_uploads)
            .where(c.status == UploadStatus.READY.value)
            .order_by(c.updated_at.desc(), c.id.desc())
            .limit(limit)
        )
        with translate_errors("recent_ready"):
            async with self._reader.connect() as conn:
                rows = (await conn.execute(query)).mappings().all()
        return tuple(decode_upload(row) for row in rows)

    async def ping(self) -> None:
        """One round trip to the database; ``RepositoryUnavailable`` if it cannot answer."""
        with translate_errors("ping"):
            async with self._reader.connect() as conn:
                await conn.execute(sa.select(sa.literal(1)))


def _with_jobs() -> sa.Join:
    """Uploads with the local provider's finished job, where there is one."""
    return media_uploads.outerjoin(
        local_jobs,
        sa.and_(local_jobs.c.upload_id == media_uploads.c.id, local_jobs.c.state == "done"),
    )


def _stored_bytes() -> sa.ColumnElement[int]:
    """What an upload really takes: the bytes its provider reports storing (the local
    provider's source and renditions, once processed), else its declared size."""
    return sa.func.coalesce(local_jobs.c.stored_bytes, media_uploads.c.file_size)
