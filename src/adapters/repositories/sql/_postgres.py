"""``PostgresMediaRepository``: the ``MediaRepository`` port on PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import attrs
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.repositories.sql._codec import UploadEncoder, decode_columns
from adapters.repositories.sql._cold import ColdQueries
from adapters.repositories.sql._errors import is_unavailable, translate_errors
from adapters.repositories.sql._pool import DriverPool
from adapters.repositories.sql._statements import POSTGRES, Statement
from media_core.errors import Conflict, DuplicateDelivery, VersionConflict
from media_core.model import MediaUpload
from media_core.ports import DeliveryKey

_ENCODER = UploadEncoder(times_as_text=False)


class PostgresMediaRepository(ColdQueries):
    """Uploads and webhook deliveries in PostgreSQL, safe for many instances at once.

    Build the engine with :func:`create_engine` and the tables with :func:`upgrade`. The hot
    statements (lookups by key, inserts, the guarded writes) go straight to asyncpg, on the
    ``driver_pool`` from :func:`create_driver_pool` if given (what ``serve`` does), else on a
    driver connection borrowed from SQLAlchemy's pool; each is one statement, so one implicit
    transaction and one round trip. The rest goes through SQLAlchemy.
    """

    def __init__(self, engine: AsyncEngine, *, driver_pool: DriverPool | None = None) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError(f"{engine.url.render_as_string()} is not a PostgreSQL URL")
        super().__init__(engine)
        self._driver_pool = driver_pool

    async def add(self, upload: MediaUpload) -> None:
        """Insert a new upload; ``Conflict`` if its id or a unique provider key is taken."""
        args = POSTGRES.insert.args(_ENCODER.encode(upload))
        with translate_errors("add"):
            try:
                async with self._driver() as driver:
                    await driver.execute(POSTGRES.insert.sql, *args)
            except asyncpg.UniqueViolationError as exc:
                raise Conflict(f"upload {upload.id} or one of its unique keys exists") from exc

    async def get(self, upload_id: str) -> MediaUpload | None:
        """The upload with our id ``upload_id``."""
        return await self._one(POSTGRES.select_by_id, upload_id, "get")

    async def get_by_playback_id(self, playback_id: str) -> MediaUpload | None:
        """The upload with this playback id."""
        return await self._one(POSTGRES.select_by_playback_id, playback_id, "get_by_playback_id")

    async def update(self, upload: MediaUpload, *, expected_version: int) -> MediaUpload:
        """Store ``upload`` as version ``expected_version + 1`` if nobody changed it meanwhile.

        ``VersionConflict`` if no row matched (another writer won, or the upload is gone),
        ``Conflict`` if a unique key is taken; nothing is written in either case.
        """
        stored = attrs.evolve(upload, version=expected_version + 1)
        values = _ENCODER.encode(stored) | {"expected_version": expected_version}
        statement = POSTGRES.guarded_update
        with translate_errors("update"):
            try:
                async with self._driver() as driver:
                    status = await driver.execute(statement.sql, *statement.args(values))
            except asyncpg.UniqueViolationError as exc:
                raise Conflict(f"a unique key of upload {stored.id} is taken") from exc
        if status != "UPDATE 1":
            raise VersionConflict(f"upload {stored.id} is not at version {expected_version}")
        return stored

    async def record_delivery(
        self, delivery: DeliveryKey, received_at: datetime, *, change: MediaUpload | None = None
    ) -> None:
        """Record ``delivery`` with the ``change`` it made, in one statement (see the port).

        With a change, the key's insert and the guarded update are one statement
        (``UploadStatements.apply``), which writes both or neither.
        """
        values: dict[str, Any] = {
            "delivery_provider": delivery.provider,
            "delivery_id": delivery.delivery_id,
            "received_at": received_at,
        }
        statement = POSTGRES.record_delivery
        if change is not None:
            values |= _ENCODER.encode(change) | {"expected_version": change.version - 1}
            statement = POSTGRES.apply
        with translate_errors("record_delivery"):
            try:
                async with self._driver() as driver:
                    recorded = await driver.fetchval(statement.sql, *statement.args(values))
            except asyncpg.DivisionByZeroError as exc:  # apply's "lost the race" signal
                assert change is not None
                raise VersionConflict(
                    f"upload {change.id} is not at version {change.version - 1}"
                ) from exc
            except asyncpg.UniqueViolationError as exc:
                assert change is not None
                raise Conflict(f"a unique key of upload {change.id} is taken") from exc
        if not recorded:
            raise DuplicateDelivery(
                f"delivery {delivery.delivery_id} of {delivery.provider} was applied before"
            )

    async def _one(self, statement: Statement, key: str, action: str) -> MediaUpload | None:
        with translate_errors(action):
            async with self._driver() as driver:
                record = await driver.fetchrow(statement.sql, key)
        return decode_columns(record.values()) if record is not None else None

    def _driver(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """An asyncpg connection for one statement, from the driver pool if there is one."""
        if self._driver_pool is not None:
            return self._driver_pool.acquire()
        return _borrowed_driver(self._reader)


@contextlib.asynccontextmanager
async def _borrowed_driver(engine: AsyncEngine) -> AsyncIterator[Any]:
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
