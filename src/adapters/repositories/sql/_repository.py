"""``SqlAlchemyMediaRepository``: the ``MediaRepository`` port over SQLAlchemy Core, async."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar, TypeVarTuple

import asyncpg
import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.repositories._common import (
    TIMESTAMPS,
    check_limit,
    decode_cursor,
    encode_cursor,
    require_aware,
)
from adapters.repositories.sql._engine import sqlite_pragmas
from adapters.repositories.sql._pool import DriverPool
from adapters.repositories.sql._schema import idempotency_keys, media_uploads, webhook_deliveries
from media_core.errors import Conflict, DuplicateDelivery, RepositoryUnavailable, VersionConflict
from media_core.events import ProviderEvent
from media_core.model import (
    FailureCode,
    MediaUpload,
    Page,
    UploadMetadata,
    UploadProtocol,
    UploadStatus,
    Visibility,
)
from media_core.ports import (
    DeliveryKey,
    DirectUploadTicket,
    IdempotencyRecord,
    StaleCriteria,
    StorageTally,
    Usage,
)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# SQLSTATE classes that mean "the database is not there for us right now": connection exception,
# insufficient resources, operator intervention (shutdown, terminated backend, statement timeout),
# system error; plus lock_not_available.
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})
_UNAVAILABLE_SQLSTATES = frozenset({"55P03"})


def is_unavailable(error: BaseException) -> bool:
    """True if ``error`` means the database cannot serve us now (rather than a bug of ours)."""
    # Raised by the drivers themselves on the fast paths: a SQLite file locked past the busy
    # timeout, unreadable or without its tables; a PostgreSQL connection closed, lost or refused.
    driver_down = (
        sqlite3.OperationalError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError
    )
    if isinstance(
        error,
        OSError | TimeoutError | sa_exc.TimeoutError | sa_exc.DisconnectionError | driver_down,
    ):
        return True
    if isinstance(error, asyncpg.PostgresError):
        return _unavailable_state(error.sqlstate)
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(
        error, sa_exc.OperationalError | sa_exc.InterfaceError
    ):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return _unavailable_state(sqlstate)


def _unavailable_state(sqlstate: object) -> bool:
    return isinstance(sqlstate, str) and (
        sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or sqlstate in _UNAVAILABLE_SQLSTATES
    )


class translate_errors:
    """Raise ``RepositoryUnavailable`` for what :func:`is_unavailable` accepts; pass the rest.

    A class rather than ``@contextmanager``: every statement goes through one, and a generator
    per statement cost more than the rest of a status read's own code.
    """

    __slots__ = ("_action",)

    def __init__(self, action: str) -> None:
        self._action = action

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(error, Exception):
            raise_if_unavailable(error, self._action)


def raise_if_unavailable(error: Exception, action: str) -> None:
    """What :class:`translate_errors` does, for an ``except`` clause: on the hottest paths a
    ``try`` costs nothing until something fails, a context manager three calls every time."""
    if is_unavailable(error):
        raise RepositoryUnavailable(
            f"the database is unavailable ({action}): {_reason(error)}"
        ) from error


def _reason(error: BaseException) -> str:
    """The driver's own words, without the SQL statement and parameters SQLAlchemy adds."""
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else 'no detail'}"


class SqlAlchemyMediaRepository:
    """Uploads and webhook deliveries in ``media_uploads`` and ``webhook_deliveries``.

    Works on PostgreSQL (asyncpg) and SQLite (aiosqlite); build the engine with
    :func:`create_engine` and the tables with :func:`upgrade`. Every write is one transaction.
    A database that cannot be reached, times out or drops the connection raises
    ``RepositoryUnavailable``, and the transaction is rolled back, so nothing is half-written.
    ``driver_pool`` (PostgreSQL): a pool from :func:`create_driver_pool` for the hot statements.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        driver_pool: DriverPool | None = None,
    ) -> None:
        self._engine = engine
        # PostgreSQL: an asyncpg pool from create_driver_pool for the hot statements; without
        # one they borrow the driver connection from SQLAlchemy's pool.
        self._driver_pool = driver_pool
        # Reads run outside a transaction: one statement needs none, and autocommit spares the
        # BEGIN and ROLLBACK round trips that SQLAlchemy's implicit transaction would add.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sqlite_file = _sqlite_file(engine)
        self._sqlite_reader: sqlite3.Connection | None = None
        self._sqlite_writer: _SqliteWriter | None = None
        self._dialect = engine.dialect.name

    @property
    def engine(self) -> AsyncEngine:
        """The engine this repository uses (the caller owns it and disposes of it)."""
        return self._engine

    async def add(self, upload: MediaUpload) -> None:
        """Insert a new upload; ``Conflict`` if its id or a unique provider key is taken."""
        with translate_errors("add"):
            try:
                if self._sqlite_file is not None:
                    values = [upload.id, *_sqlite_values(upload)]
                    await self._sqlite_write().run(
                        lambda conn: conn.execute(_SQLITE_INSERT, values)
                    )
                elif self._dialect == "postgresql":
                    values = [upload.id, *_pg_values(upload)]
                    # One statement commits on its own: no BEGIN and COMMIT round trips.
                    async with self._pg() as driver:
                        await driver.execute(_PG_INSERT, *values)
                else:
                    row = _to_row(upload)
                    async with self._engine.begin() as conn:
                        await conn.execute(_INSERT_UPLOAD, row)
            except (
                sa_exc.IntegrityError,
                asyncpg.UniqueViolationError,
                sqlite3.IntegrityError,
            ) as exc:
                raise Conflict(f"upload {upload.id} or one of its unique keys exists") from exc

    async def get(self, upload_id: str) -> MediaUpload | None:
        """The upload with our id ``upload_id``."""
        return await self._one(_SELECT_BY_ID, upload_id, "get")

    async def get_by_playback_id(self, playback_id: str) -> MediaUpload | None:
        """The upload with this playback id."""
        return await self._one(_SELECT_BY_PLAYBACK_ID, playback_id, "get_by_playback_id")

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
        return _from_row(row) if row is not None else None

    async def update(self, upload: MediaUpload, *, expected_version: int) -> MediaUpload:
        """Store ``upload`` as version ``expected_version + 1`` if nobody changed it meanwhile.

        ``VersionConflict`` if no row matched (another writer won, or the upload is gone),
        ``Conflict`` if a unique key is taken; nothing is written in either case.
        """
        stored = upload
        if upload.version != expected_version + 1:
            stored = attrs.evolve(upload, version=expected_version + 1)
        if self._dialect == "postgresql":
            await self._pg_update(stored, expected_version, None)
            return stored
        if self._sqlite_file is not None:
            values = [*_sqlite_values(stored), stored.id, expected_version]
            with translate_errors("update"):
                await self._sqlite_write().run(lambda conn: _sqlite_update(conn, values, None))
        else:
            raise AssertionError("unreachable: the constructor accepts SQLite files and PostgreSQL")
        return stored

    def _pg(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """An asyncpg connection for one statement, from the driver pool if there is one."""
        if self._driver_pool is not None:
            return self._driver_pool.acquire()
        return _pg_driver(self._reader)

    def _sqlite_write(self) -> _SqliteWriter:
        if self._sqlite_writer is None:
            assert self._sqlite_file is not None
            self._sqlite_writer = _SqliteWriter(self._sqlite_file)
            weakref.finalize(self, self._sqlite_writer.close)
        return self._sqlite_writer

    def _sqlite_read_connection(self) -> sqlite3.Connection:
        """A read-only connection used on the event loop's own thread.

        A lookup by key in SQLite takes tens of microseconds, less than the two thread hops
        aiosqlite needs to run it elsewhere (measured: 3x the status reads per second). WAL
        lets it read while the writer commits; writes keep going through the pool.
        """
        if self._sqlite_reader is None:
            assert self._sqlite_file is not None
            connection = sqlite3.connect(
                self._sqlite_file, check_same_thread=False, isolation_level=None
            )
            connection.execute("PRAGMA query_only = ON")
            connection.execute("PRAGMA busy_timeout = 1000")
            weakref.finalize(self, connection.close)
            self._sqlite_reader = connection
        return self._sqlite_reader

    async def _pg_update(
        self,
        stored: MediaUpload,
        expected_version: int,
        delivery: DeliveryKey | None,
        received_at: datetime | None = None,
    ) -> None:
        """The guarded update on PostgreSQL in one statement, which is one implicit transaction.

        With a delivery, the insert of its key and the guarded update are one statement
        (:func:`_pg_apply`): it writes both or neither.
        """
        with translate_errors("update"):
            async with self._pg() as driver:
                if delivery is None:
                    try:
                        status = await driver.execute(
                            _PG_UPDATE, *_pg_values(stored), stored.id, expected_version
                        )
                    except asyncpg.UniqueViolationError as exc:
                        raise Conflict(f"a unique key of upload {stored.id} is taken") from exc
                    if status != "UPDATE 1":
                        raise VersionConflict(
                            f"upload {stored.id} is not at version {expected_version}"
                        )
                else:
                    assert received_at is not None
                    await _pg_apply(driver, stored, expected_version, delivery, received_at)

    async def record_delivery(
        self, delivery: DeliveryKey, received_at: datetime, *, change: MediaUpload | None = None
    ) -> None:
        """Record ``delivery`` with the ``change`` it made, in one transaction (see the port)."""
        if self._dialect == "postgresql":
            if change is not None:
                await self._pg_update(change, change.version - 1, delivery, received_at)
                return
            with translate_errors("record_delivery"):
                async with self._pg() as driver:
                    fresh = await driver.fetchval(
                        _PG_RECORD_DELIVERY, delivery.provider, delivery.delivery_id, received_at
                    )
            if not fresh:
                raise DuplicateDelivery(
                    f"delivery {delivery.delivery_id} of {delivery.provider} was applied before"
                )
            return
        assert self._sqlite_file is not None
        received = (delivery.provider, delivery.delivery_id, _sqlite_time(received_at))
        values = None
        if change is not None:
            values = [*_sqlite_values(change), change.id, change.version - 1]
        with translate_errors("record_delivery"):
            await self._sqlite_write().run(_sqlite_record, received, values)

    async def has_delivery(self, delivery: DeliveryKey) -> bool:
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

    async def claim_stale(self, criteria: StaleCriteria) -> Sequence[MediaUpload]:
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
        claimed = [_from_row(row) for row in rows]
        return sorted(claimed, key=lambda upload: (upload.updated_at, upload.id))

    async def get_idempotency_key(self, owner_id: str, key: str) -> IdempotencyRecord | None:
        """The request remembered under ``owner_id`` and ``key``."""
        c = idempotency_keys.c
        query = sa.select(idempotency_keys).where(c.owner_id == owner_id, c.key == key)
        with translate_errors("get_idempotency_key"):
            async with self._reader.connect() as conn:
                row = (await conn.execute(query)).mappings().first()
        return _record_from_row(row) if row is not None else None

    async def claim_idempotency_key(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Insert ``record`` unless its (owner, key) exists; return the stored one.

        ``INSERT … ON CONFLICT DO NOTHING`` waits for a concurrent insert of the same key to
        commit (or roll back), so the read that follows sees the winner.
        """
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        statement = (
            insert(idempotency_keys)
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
        return _record_from_row(row)

    async def complete_idempotency_key(
        self, owner_id: str, key: str, upload_id: str, ticket: DirectUploadTicket
    ) -> None:
        """Attach ``ticket`` to the record of ``upload_id`` under ``key``."""
        c = idempotency_keys.c
        statement = (
            idempotency_keys.update()
            .where(c.owner_id == owner_id, c.key == key, c.upload_id == upload_id)
            .values(ticket=_ticket_to_json(ticket))
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
        items = tuple(_from_row(row) for row in rows[:limit])
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

    async def usage_for_owner(self, owner_id: str) -> Usage:
        """Declared bytes and count of the owner's uploads that did not fail.

        One aggregate over the owner's rows (the listing index on ``owner_id`` finds them).
        """
        c = media_uploads.c
        query = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(c.file_size), 0)).where(
            c.owner_id == owner_id, c.status != UploadStatus.FAILED.value
        )
        with translate_errors("usage_for_owner"):
            async with self._reader.connect() as conn:
                count, size = (await conn.execute(query)).one()
        return Usage(bytes=int(size), count=int(count))

    async def storage_tallies(self) -> tuple[StorageTally, ...]:
        """Count and declared bytes per (provider, status), sorted by provider then status.

        One ``GROUP BY`` that returns a handful of rows; it still reads every upload row (or
        the whole status index), so callers cache it (the metrics endpoint keeps it 15 s).
        """
        c = media_uploads.c
        query = (
            sa.select(c.provider, c.status, sa.func.count(), sa.func.sum(c.file_size))
            .group_by(c.provider, c.status)
            .order_by(c.provider, c.status)
        )
        with translate_errors("storage_tallies"):
            async with self._reader.connect() as conn:
                rows = (await conn.execute(query)).all()
        return tuple(
            StorageTally(
                provider=provider, status=UploadStatus(status), count=int(count), bytes=int(size)
            )
            for provider, status, count, size in rows
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
        return tuple(_from_row(row) for row in rows)

    async def ping(self) -> None:
        """One round trip to the database; ``RepositoryUnavailable`` if it cannot answer."""
        with translate_errors("ping"):
            async with self._reader.connect() as conn:
                await conn.execute(sa.select(sa.literal(1)))

    async def _one(self, query: sa.Select[Any], key: str, action: str) -> MediaUpload | None:
        if self._sqlite_file is not None:
            sql = _SQLITE_BY_ID if query is _SELECT_BY_ID else _SQLITE_BY_PLAYBACK_ID
            try:
                connection = self._sqlite_reader or self._sqlite_read_connection()
                row = connection.execute(sql, (key,)).fetchone()
            except Exception as exc:
                raise_if_unavailable(exc, action)
                raise
            return _from_sqlite_row(row) if row is not None else None
        if self._dialect == "postgresql":
            sql = _PG_BY_ID if query is _SELECT_BY_ID else _PG_BY_PLAYBACK_ID
            try:
                async with self._pg() as driver:
                    record = await driver.fetchrow(sql, key)
            except Exception as exc:
                raise_if_unavailable(exc, action)
                raise
            return _from_record(record) if record is not None else None
        with translate_errors(action):
            async with self._reader.connect() as conn:
                row = (await conn.execute(query, {"p_key": key})).mappings().first()
        return _from_row(row) if row is not None else None


def _ticket_to_json(ticket: DirectUploadTicket) -> dict[str, Any]:
    return {
        "providerUploadId": ticket.provider_upload_id,
        "url": ticket.url,
        "protocol": ticket.protocol.value,
        "method": ticket.method,
        "expiresAt": ticket.expires_at.astimezone(UTC).isoformat(),
        "headers": dict(ticket.headers),
        "playbackId": ticket.playback_id,
        "assetId": ticket.asset_id,
        "chunkSize": ticket.chunk_size,
    }


def _ticket_from_json(data: dict[str, Any]) -> DirectUploadTicket:
    return DirectUploadTicket(
        provider_upload_id=data["providerUploadId"],
        url=data["url"],
        protocol=UploadProtocol(data["protocol"]),
        method=data["method"],
        expires_at=datetime.fromisoformat(data["expiresAt"]),
        headers=dict(data.get("headers") or {}),
        playback_id=data.get("playbackId"),
        asset_id=data.get("assetId"),
        chunk_size=data.get("chunkSize"),
    )


def _record_from_row(row: sa.RowMapping) -> IdempotencyRecord:
    ticket = row["ticket"]
    return IdempotencyRecord(
        owner_id=row["owner_id"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        upload_id=row["upload_id"],
        created_at=row["created_at"],
        ticket=_ticket_from_json(ticket) if ticket is not None else None,
    )


# Statements built once: SQLAlchemy then computes each one's cache key a single time, and the hot
# paths skip building and hashing a new statement per call.
_INSERT_UPLOAD = media_uploads.insert()
_INSERT_DELIVERY = webhook_deliveries.insert()
_SELECT_BY_ID = sa.select(media_uploads).where(media_uploads.c.id == sa.bindparam("p_key"))
_SELECT_BY_PLAYBACK_ID = sa.select(media_uploads).where(
    media_uploads.c.playback_id == sa.bindparam("p_key")
)
_UPDATE_UPLOAD = (
    media_uploads.update()
    .where(
        media_uploads.c.id == sa.bindparam("p_id"),
        media_uploads.c.version == sa.bindparam("p_expected_version"),
    )
    .values(
        {
            column: sa.bindparam(f"p_{column.name}", type_=column.type)
            for column in media_uploads.c
            if column.name not in ("id", "reconcile_after")
        }
    )
)


# PostgreSQL fast path: the hot statements sent through asyncpg directly. SQLAlchemy's
# execution layer (compiled-cache lookup, execution context, result proxy, greenlet hop) costs
# about a third of a status read; measured in docs/benchmarks.md. The SQL is the same as the
# Core statements above, written for asyncpg's numbered parameters.
_COLUMN_NAMES = tuple(column.name for column in media_uploads.c)
_PG_COLUMNS = ", ".join(_COLUMN_NAMES)
# Built from the schema's own column names, never from input.
_PG_BY_ID = f"SELECT {_PG_COLUMNS} FROM media_uploads WHERE id = $1"  # noqa: S608
_PG_BY_PLAYBACK_ID = f"SELECT {_PG_COLUMNS} FROM media_uploads WHERE playback_id = $1"  # noqa: S608
_PG_UPDATE_COLUMNS = tuple(
    column.name for column in media_uploads.c if column.name not in ("id", "reconcile_after")
)
_N = len(_PG_UPDATE_COLUMNS)
_PG_SET = ", ".join(f"{name} = ${index}" for index, name in enumerate(_PG_UPDATE_COLUMNS, 1))
_PG_GUARD = f"id = ${_N + 1} AND version = ${_N + 2}"
# S608: these statements are assembled from the schema's column names, never from input.
_PG_UPDATE = f"UPDATE media_uploads SET {_PG_SET} WHERE {_PG_GUARD}"  # noqa: S608
_INSERT_COLUMNS = tuple(
    column.name for column in media_uploads.c if column.name != "reconcile_after"
)
_PG_PLACEHOLDERS = ", ".join(f"${index}" for index in range(1, len(_INSERT_COLUMNS) + 1))
_COLUMN_LIST = ", ".join(_INSERT_COLUMNS)
_PG_INSERT = f"INSERT INTO media_uploads ({_COLUMN_LIST}) VALUES ({_PG_PLACEHOLDERS})"  # noqa: S608
# The delivery's key and the guarded update in one statement. The update runs only if the key
# was new (``d``); the final SELECT answers 1 (both written) or 0 (a duplicate: nothing
# written), and when the key was new but the version had moved on it divides by zero, which
# aborts the statement and so takes the key back out: a lost race must not record the delivery.
_PG_APPLY = (
    "WITH d AS (INSERT INTO webhook_deliveries (provider, delivery_id, received_at) "  # noqa: S608
    f"VALUES (${_N + 3}, ${_N + 4}, ${_N + 5}) ON CONFLICT DO NOTHING RETURNING 1), "
    f"u AS (UPDATE media_uploads SET {_PG_SET} "
    f"WHERE {_PG_GUARD} AND EXISTS (SELECT 1 FROM d) RETURNING 1) "
    "SELECT CASE WHEN (SELECT count(*) FROM d) = 0 THEN 0 "
    "ELSE 1 / (SELECT count(*) FROM u) END"
)


@contextlib.asynccontextmanager
async def _pg_driver(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled asyncpg connection, checked out through SQLAlchemy's pool.

    A connection the server closed (a restart, a terminated backend) is known to asyncpg
    without a round trip: it is replaced before use. One that fails during use is invalidated,
    so the pool never hands it out again (SQLAlchemy cannot see errors raised by the driver).
    """
    for attempt in range(2):
        async with engine.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            if driver.is_closed() and attempt == 0:
                await conn.invalidate()
                continue
            try:
                yield driver
            except BaseException as exc:
                if is_unavailable(exc):
                    await conn.invalidate()
                raise
            return


_SQLITE_BY_ID = _PG_BY_ID.replace("$1", "?")
_PG_RECORD_DELIVERY = (
    "INSERT INTO webhook_deliveries (provider, delivery_id, received_at) VALUES ($1, $2, $3) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)
_SQLITE_BY_PLAYBACK_ID = _PG_BY_PLAYBACK_ID.replace("$1", "?")


class _SqliteWriter:
    """The hot writes to a SQLite file, each transaction one job on one dedicated thread.

    Through SQLAlchemy and aiosqlite, BEGIN, each statement and COMMIT are separate hops to the
    driver's thread, each paying a GIL hand-over; here a whole transaction is one hop, and the
    event loop never waits for the commit's fsync (measured in docs/benchmarks.md).
    """

    def __init__(self, path: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-sqlite")
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def run(self, job: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> asyncio.Future[T]:
        """Run ``job(connection, *args)`` with the writer's connection, in one transaction, off
        the event loop; await the result. (A plain function: a coroutine here would be one more
        frame for every resumption on the way back.)"""
        return asyncio.get_running_loop().run_in_executor(
            self._executor, self._transaction, job, *args
        )

    def _transaction(self, job: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> T:
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            for pragma in _SQLITE_WRITER_PRAGMAS:
                connection.execute(pragma)
            self._connection = connection
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            result = job(self._connection, *args)
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")
        return result

    def close(self) -> None:
        """Stop the thread, then close the connection (no job runs by then)."""
        self._executor.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# The same settings as the pooled connections: WAL, fsync on every commit.
_SQLITE_WRITER_PRAGMAS = sqlite_pragmas()
_SQLITE_INSERT = (
    f"INSERT INTO media_uploads ({_COLUMN_LIST}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)})"
)
_SQLITE_UPDATE = _PG_UPDATE
for _index in range(len(_PG_UPDATE_COLUMNS) + 2, 0, -1):
    _SQLITE_UPDATE = _SQLITE_UPDATE.replace(f"${_index}", "?")
_SQLITE_INSERT_DELIVERY = (
    "INSERT INTO webhook_deliveries (provider, delivery_id, received_at) VALUES (?, ?, ?)"
)
_SQLITE_RECORD_DELIVERY = _SQLITE_INSERT_DELIVERY + " ON CONFLICT DO NOTHING"


def _sqlite_time(value: datetime) -> str:
    """An aware time as SQLAlchemy's UtcDateTime keeps it in SQLite: naive UTC text."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # without "+00:00"


def _sqlite_values(
    upload: MediaUpload, stored: tuple[MediaUpload, tuple[Any, ...]] | None = None
) -> list[Any]:
    """:func:`_pg_values` with the times as text, as SQLite keeps them.

    With ``stored``, the upload ``upload`` changes and its row as read: what the change left
    alone (the metadata, most times) keeps its stored text instead of being encoded again.
    """
    found, row = stored if stored is not None else (None, ())
    same_metadata = found is not None and upload.metadata is found.metadata
    values = _pg_values(upload, row[_METADATA] if same_metadata else None)
    for index, name, column in _TIME_SLOTS:
        value = values[index]
        if value is None:
            continue
        kept = found is not None and value is getattr(found, name)
        values[index] = row[column] if kept else _sqlite_time(value)
    return values


def _sqlite_update(
    conn: sqlite3.Connection, values: list[Any], received: tuple[str, str, str] | None
) -> None:
    """The guarded update (``values`` end with the id and the expected version), after
    recording the delivery ``received`` (provider, delivery id, time) if there is one."""
    if received is not None:
        try:
            conn.execute(_SQLITE_INSERT_DELIVERY, received)
        except sqlite3.IntegrityError as exc:
            raise DuplicateDelivery(
                f"delivery {received[1]} of {received[0]} was applied before"
            ) from exc
    try:
        cursor = conn.execute(_SQLITE_UPDATE, values)
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"a unique key of upload {values[-2]} is taken") from exc
    if cursor.rowcount != 1:
        raise VersionConflict(f"upload {values[-2]} is not at version {values[-1]}")


def _sqlite_record(
    conn: sqlite3.Connection, received: tuple[str, str, str], values: list[Any] | None
) -> None:
    """Record the delivery ``received``, then the guarded update of ``values`` if any."""
    if values is not None:
        _sqlite_update(conn, values, received)
    elif conn.execute(_SQLITE_RECORD_DELIVERY, received).rowcount != 1:
        raise DuplicateDelivery(f"delivery {received[1]} of {received[0]} was applied before")


async def _pg_apply(
    driver: Any,
    stored: MediaUpload,
    expected_version: int,
    delivery: DeliveryKey,
    received_at: datetime,
) -> None:
    """:data:`_PG_APPLY` on ``driver``: both written, or ``DuplicateDelivery`` (recorded
    before), ``VersionConflict`` (the version moved on) or ``Conflict`` (the new state takes
    another upload's unique key), each writing nothing."""
    try:
        applied = await driver.fetchval(
            _PG_APPLY,
            *_pg_values(stored),
            stored.id,
            expected_version,
            delivery.provider,
            delivery.delivery_id,
            received_at,
        )
    except asyncpg.DivisionByZeroError as exc:  # _PG_APPLY's "lost the race" signal
        raise VersionConflict(f"upload {stored.id} is not at version {expected_version}") from exc
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"a unique key of upload {stored.id} is taken") from exc
    if not applied:
        raise DuplicateDelivery(
            f"delivery {delivery.delivery_id} of {delivery.provider} was applied before"
        )


def _sqlite_file(engine: AsyncEngine) -> str | None:
    """The path of a file-backed SQLite database, or None."""
    url = engine.url
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else database


def _from_sqlite_row(row: tuple[Any, ...]) -> MediaUpload:
    values = list(row)
    values[_METADATA] = _decode_json(values[_METADATA])
    for index in _TIMESTAMP_INDEXES:
        text = values[index]
        if text is not None:  # stored by UtcDateTime as naive UTC text
            # Naming the zone in the text is five times cheaper than replace(tzinfo=UTC).
            values[index] = datetime.fromisoformat(text + "+00:00")
    return _from_columns(values)


def _column_values(upload: MediaUpload, metadata: Any = None) -> list[Any]:
    """The values of :data:`_PG_UPDATE_COLUMNS` for ``upload``, ``metadata`` as a dict (or
    the given ``metadata``, its stored form); ``ValueError`` on a naive timestamp (its instant
    is unknown)."""
    require_aware(upload)
    meta = upload.metadata
    failure_code = upload.failure_code
    return [
        upload.owner_id,
        upload.provider,
        upload.provider_upload_id,
        upload.provider_asset_id,
        upload.playback_id,
        upload.file_name,
        upload.file_size,
        upload.mime_type,
        upload.status.value,
        upload.progress,
        {
            "title": meta.title,
            "description": meta.description,
            "visibility": meta.visibility.value,
            "extra": dict(meta.extra),
        }
        if metadata is None
        else metadata,
        upload.duration,
        upload.thumbnail_url,
        upload.aspect_ratio,
        failure_code.value if failure_code is not None else None,
        upload.failure_reason,
        upload.created_at,
        upload.updated_at,
        upload.upload_expires_at,
        upload.uploaded_at,
        upload.ready_at,
        upload.version,
    ]


def _pg_values(upload: MediaUpload, metadata_text: str | None = None) -> list[Any]:
    """:func:`_column_values` as the asyncpg fast path sends them: the connections give jsonb a
    text codec (as SQLAlchemy's dialect does), so ``metadata`` goes as JSON text (encoded here,
    or ``metadata_text`` as stored)."""
    if metadata_text is not None:
        return _column_values(upload, metadata_text)
    values = _column_values(upload)
    values[_UPDATE_METADATA] = _COMPACT_JSON.encode(values[_UPDATE_METADATA])
    return values


def _from_record(record: Any) -> MediaUpload:
    values = list(record.values())
    if isinstance(values[_METADATA], str):
        values[_METADATA] = _decode_json(values[_METADATA])
    return _from_columns(values)


def _delivery_row(delivery: DeliveryKey, received_at: datetime) -> dict[str, Any]:
    return {
        "provider": delivery.provider,
        "delivery_id": delivery.delivery_id,
        "received_at": received_at,
    }


def _to_row(upload: MediaUpload) -> dict[str, Any]:
    """The row of ``upload`` as SQLAlchemy binds it (see :func:`_column_values`)."""
    return {"id": upload.id, **dict(zip(_PG_UPDATE_COLUMNS, _column_values(upload), strict=True))}


# Enum members by value: a dict lookup, where calling the Enum costs ten times more; unknown
# values still go through the Enum and raise its ValueError.
_STATUSES = {status.value: status for status in UploadStatus}
_VISIBILITIES = {visibility.value: visibility for visibility in Visibility}


def _from_row(row: Mapping[str, Any] | sa.RowMapping) -> MediaUpload:
    return _from_columns([row[name] for name in _MODEL_COLUMNS])


def _from_columns(values: Sequence[Any]) -> MediaUpload:
    """The upload of one row: its columns in table order (:data:`_MODEL_COLUMNS`, then any
    bookkeeping columns, ignored), ``metadata`` parsed, times aware."""
    (
        upload_id,
        owner_id,
        provider,
        provider_upload_id,
        provider_asset_id,
        playback_id,
        file_name,
        file_size,
        mime_type,
        status,
        progress,
        metadata,
        duration,
        thumbnail_url,
        aspect_ratio,
        failure_code,
        failure_reason,
        created_at,
        updated_at,
        upload_expires_at,
        uploaded_at,
        ready_at,
        version,
    ) = values[:_MODEL_WIDTH]
    visibility = metadata.get("visibility", "PRIVATE")
    return MediaUpload(
        id=upload_id,
        owner_id=owner_id,
        provider=provider,
        provider_upload_id=provider_upload_id,
        provider_asset_id=provider_asset_id,
        playback_id=playback_id,
        file_name=file_name,
        file_size=file_size,
        mime_type=mime_type,
        status=_STATUSES.get(status) or UploadStatus(status),
        progress=progress,
        metadata=UploadMetadata(
            title=metadata.get("title", ""),
            description=metadata.get("description", ""),
            visibility=_VISIBILITIES.get(visibility) or Visibility(visibility),
            extra=dict(metadata.get("extra", {})),
        ),
        duration=duration,
        thumbnail_url=thumbnail_url,
        aspect_ratio=aspect_ratio,
        failure_code=FailureCode(failure_code) if failure_code else None,
        failure_reason=failure_reason,
        created_at=created_at,
        updated_at=updated_at,
        upload_expires_at=upload_expires_at,
        uploaded_at=uploaded_at,
        ready_at=ready_at,
        version=version,
    )


_MODEL_COLUMNS = _COLUMN_NAMES[: _COLUMN_NAMES.index("version") + 1]
"""The columns that make an upload, in table order (:func:`_from_columns` takes them so)."""
_MODEL_WIDTH = len(_MODEL_COLUMNS)
_METADATA = _COLUMN_NAMES.index("metadata")
_TIMESTAMP_INDEXES = tuple(_COLUMN_NAMES.index(name) for name in TIMESTAMPS)
_UPDATE_METADATA = _PG_UPDATE_COLUMNS.index("metadata")
_TIME_SLOTS = tuple(
    (_PG_UPDATE_COLUMNS.index(name), name, _COLUMN_NAMES.index(name)) for name in TIMESTAMPS
)
"""Per timestamp: its index among the update's values, its attribute, its index in a row."""
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_decode_json = json.JSONDecoder().decode  # json.loads less its wrapper (the text is a str)
