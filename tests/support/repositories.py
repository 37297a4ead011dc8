"""Build repositories for tests: in memory, on a SQLite file, in a fresh PostgreSQL schema.

PostgreSQL comes from ``MEDIA_TEST_POSTGRES_URL``. Each test module that uses it creates its own
schema with a random name (:func:`fresh_postgres_schema`), migrates it, and drops it at the end,
so test runs sharing one server never see each other's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.repositories.memory import InMemoryMediaRepository
from adapters.repositories.sql import (
    DriverPool,
    create_driver_pool,
    create_engine,
    sql_repository,
    upgrade,
)
from media_core.model import MediaUpload, UploadMetadata, Visibility
from media_core.ports import MediaRepository
from tests.conftest import need

POSTGRES_URL_VARIABLE = "MEDIA_TEST_POSTGRES_URL"
BACKENDS = ("memory", "sqlite", "postgres")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def postgres_url() -> str:
    """The test server's URL; skips (or fails under CI) when the variable is unset."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    need(url, f"set {POSTGRES_URL_VARIABLE} to a PostgreSQL server to run this test")
    assert url is not None
    return url


async def _execute(url: str, statement: str) -> None:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def fresh_postgres_schema(url: str, *, migrate: bool = True) -> Iterator[str]:
    """Create a uniquely named schema (migrated to head unless ``migrate`` is false); drop it after.

    Synchronous (it runs its own event loop), so module-scoped fixtures can use it.
    """
    schema = f"media_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(url, f'CREATE SCHEMA "{schema}"'))
    try:
        if migrate:
            asyncio.run(_migrate_schema(url, schema))
        yield schema
    finally:
        asyncio.run(_execute(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def _migrate_schema(url: str, schema: str) -> None:
    engine = create_engine(url, search_path=schema, pool_size=1, max_overflow=0)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def postgres_engine(url: str, schema: str, **options: Any) -> AsyncEngine:
    """An engine whose connections work in ``schema``."""
    return create_engine(url, search_path=schema, **options)


async def empty_tables(engine: AsyncEngine) -> None:
    """Delete every row of our tables (between tests sharing one schema)."""
    async with engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM webhook_deliveries"))
        await conn.execute(sa.text("DELETE FROM media_uploads"))


@contextlib.asynccontextmanager
async def open_repository(
    backend: str,
    *,
    tmp_path: Path,
    postgres_schema: str | None = None,
    **engine_options: Any,
) -> AsyncIterator[MediaRepository]:
    """A repository on ``backend`` (one of :data:`BACKENDS`), empty, closed afterwards.

    ``postgres_schema`` must be a migrated schema from :func:`fresh_postgres_schema` for the
    ``postgres`` backend; its tables are emptied first.
    """
    if backend == "memory":
        yield InMemoryMediaRepository()
        return
    pool: DriverPool | None = None
    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'media.db'}", **engine_options)
        await upgrade(engine)
    else:
        assert postgres_schema is not None, "the postgres backend needs a migrated schema"
        engine = postgres_engine(postgres_url(), postgres_schema, **engine_options)
        await empty_tables(engine)
        # As the service runs it: the hot statements on a driver pool.
        pool = create_driver_pool(postgres_url(), size=2, search_path=postgres_schema)
    try:
        yield sql_repository(engine, driver_pool=pool)
    finally:
        if pool is not None:
            await pool.close()
        await engine.dispose()


def make_upload(
    upload_id: str | None = None, *, owner_id: str = "owner-1", **changes: Any
) -> MediaUpload:
    """A fresh UPLOADING upload with a unique id, for tests that need one of a given shape."""
    upload = MediaUpload(
        id=upload_id or f"up-{uuid.uuid4().hex[:16]}",
        owner_id=owner_id,
        provider="fake",
        file_name="clip.mp4",
        file_size=1_234_567,
        mime_type="video/mp4",
        metadata=UploadMetadata(title="A clip", description="", visibility=Visibility.PUBLIC),
        created_at=T0,
        updated_at=T0,
    )
    return attrs.evolve(upload, **changes)
