"""``SqliteMediaRepository``: the ``MediaRepository`` port on a SQLite file."""

from __future__ import annotations

import sqlite3
import weakref
from datetime import datetime

import attrs
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.repositories.sql._codec import UploadEncoder, decode_columns
from adapters.repositories.sql._cold import ColdQueries
from adapters.repositories.sql._errors import translate_errors
from adapters.repositories.sql._sqlite_writer import SqliteWriter
from adapters.repositories.sql._statements import SQLITE, Statement
from media_core.errors import Conflict, DuplicateDelivery, VersionConflict
from media_core.events import ProviderEvent
from media_core.model import MediaUpload
from media_core.ports import DeliveryKey

_ENCODER = UploadEncoder(times_as_text=True)


class SqliteMediaRepository(ColdQueries):
    """Uploads and webhook deliveries in a SQLite file (WAL, fsync on every commit).

    Build the engine with :func:`create_engine` and the tables with :func:`upgrade`. Status
    lookups by key run on a read-only connection on the event loop's own thread: in SQLite they
    take less time than a hop to another thread. Writes, and a webhook's read of the row it
    then writes, run on one writer thread (:class:`SqliteWriter`), each write a whole
    transaction; the rest goes through SQLAlchemy.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        path = _sqlite_file(engine)
        if path is None:
            raise ValueError(
                f"{engine.url.render_as_string()} is not a SQLite file: use a sqlite:///path URL "
                "(or memory:// for the in-memory repository)"
            )
        self._path = path
        self._read_connection: sqlite3.Connection | None = None
        self._writer: SqliteWriter | None = None

    async def add(self, upload: MediaUpload) -> None:
        """Insert a new upload; ``Conflict`` if its id or a unique provider key is taken."""
        with translate_errors("add"):
            try:
                await self._write().run(_insert, upload)
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"upload {upload.id} or one of its unique keys exists") from exc

    async def get(self, upload_id: str) -> MediaUpload | None:
        """The upload with our id ``upload_id``."""
        return self._one(SQLITE.select_by_id, {"id": upload_id}, "get")

    async def get_by_playback_id(self, playback_id: str) -> MediaUpload | None:
        """The upload with this playback id."""
        return self._one(
            SQLITE.select_by_playback_id, {"playback_id": playback_id}, "get_by_playback_id"
        )

    async def find_for_event(self, event: ProviderEvent) -> MediaUpload | None:
        """The upload an event refers to (see the port); by our id on the writer's connection,
        whose page cache is warm for the row the event's write is about to change."""
        if event.upload_id is not None:
            with translate_errors("find_for_event"):
                found = await self._write().read(_select_by_id, event.upload_id)
            if found is not None:
                return found
        return await self._find_by_references(event)

    async def update(self, upload: MediaUpload, *, expected_version: int) -> MediaUpload:
        """Store ``upload`` as version ``expected_version + 1`` if nobody changed it meanwhile.

        ``VersionConflict`` if no row matched (another writer won, or the upload is gone),
        ``Conflict`` if a unique key is taken; nothing is written in either case.
        """
        stored = attrs.evolve(upload, version=expected_version + 1)
        with translate_errors("update"):
            await self._write().run(_guarded_update, stored, expected_version)
        return stored

    async def record_delivery(
        self, delivery: DeliveryKey, received_at: datetime, *, change: MediaUpload | None = None
    ) -> None:
        """Record ``delivery`` with the ``change`` it made, in one transaction (see the port)."""
        with translate_errors("record_delivery"):
            await self._write().run(_record_delivery, delivery, received_at, change)

    def _one(self, statement: Statement, key: dict[str, str], action: str) -> MediaUpload | None:
        with translate_errors(action):
            row = self._read_only().execute(statement.sql, key).fetchone()
        return decode_columns(row) if row is not None else None

    def _read_only(self) -> sqlite3.Connection:
        """The read-only connection, opened on first use; WAL lets it read while the writer
        commits."""
        if self._read_connection is None:
            connection = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA query_only = ON")
            connection.execute("PRAGMA busy_timeout = 1000")
            weakref.finalize(self, connection.close)
            self._read_connection = connection
        return self._read_connection

    def _write(self) -> SqliteWriter:
        if self._writer is None:
            self._writer = SqliteWriter(self._path)
            weakref.finalize(self, self._writer.close)
        return self._writer


# The jobs below run on the writer thread; inside a transaction, raising rolls it back. They
# encode and decode rows there too, which leaves the event loop free for requests.


def _insert(conn: sqlite3.Connection, upload: MediaUpload) -> None:
    conn.execute(SQLITE.insert.sql, _ENCODER.encode(upload))


def _guarded_update(conn: sqlite3.Connection, upload: MediaUpload, expected_version: int) -> None:
    values = _ENCODER.encode(upload) | {"expected_version": expected_version}
    try:
        cursor = conn.execute(SQLITE.guarded_update.sql, values)
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"a unique key of upload {values['id']} is taken") from exc
    if cursor.rowcount != 1:
        raise VersionConflict(
            f"upload {values['id']} is not at version {values['expected_version']}"
        )


def _record_delivery(
    conn: sqlite3.Connection,
    delivery: DeliveryKey,
    received_at: datetime,
    change: MediaUpload | None,
) -> None:
    key = {
        "delivery_provider": delivery.provider,
        "delivery_id": delivery.delivery_id,
        "received_at": _ENCODER.time(received_at),
    }
    if conn.execute(SQLITE.record_delivery.sql, key).fetchone() is None:
        raise DuplicateDelivery(
            f"delivery {delivery.delivery_id} of {delivery.provider} was applied before"
        )
    if change is not None:
        _guarded_update(conn, change, change.version - 1)


def _select_by_id(conn: sqlite3.Connection, upload_id: str) -> MediaUpload | None:
    row = conn.execute(SQLITE.select_by_id.sql, {"id": upload_id}).fetchone()
    return decode_columns(row) if row is not None else None


def _sqlite_file(engine: AsyncEngine) -> str | None:
    """The path of a file-backed SQLite database, or None."""
    url = engine.url
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else database
