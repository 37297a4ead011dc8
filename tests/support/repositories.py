"""Build repositories for tests: in memory, on a SQLite file, in a fresh PostgreSQL schema.

PostgreSQL comes from ``MEDIA_TEST_POSTGRES_URL``. Each test module that uses it creates its own
schema with a random name (:func:`fresh_postgres_schema`), migrates it, and drops it at the end,
so test runs sharing one server never see each other's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import string
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.repositories.memory import InMemoryMediaRepository
from adapters.repositories.sql import (
    DriverPool,
    SqlAlchemyMediaRepository,
    create_driver_pool,
    create_engine,
    upgrade,
)
from media_core.model import FailureCode, MediaUpload, UploadMetadata, UploadStatus, Visibility
from media_core.ports import Clock, MediaRepository
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
    clock: Clock | None = None,
    **engine_options: Any,
) -> AsyncIterator[MediaRepository]:
    """A repository on ``backend`` (one of :data:`BACKENDS`), empty, closed afterwards.

    ``postgres_schema`` must be a migrated schema from :func:`fresh_postgres_schema` for the
    ``postgres`` backend; its tables are emptied first.
    """
    if backend == "memory":
        yield InMemoryMediaRepository(clock=clock)
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
        yield SqlAlchemyMediaRepository(engine, clock=clock, driver_pool=pool)
    finally:
        if pool is not None:
            await pool.close()
        await engine.dispose()


@attrs.define
class FrozenClock:
    """A clock that says ``now`` until a test moves it."""

    now_value: datetime = T0

    def now(self) -> datetime:
        """The current (test) time."""
        return self.now_value

    def advance(self, delta: timedelta) -> None:
        """Move the time forward by ``delta``."""
        self.now_value += delta


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


# Text as the policy lets it through: no NUL (PostgreSQL text and JSON refuse it), no surrogates.
_texts = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=40,
)
_identifiers = st.text(
    alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=30
)
_zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
_instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=_zones
)
_durations = st.floats(min_value=0, max_value=10**6, allow_nan=False, allow_infinity=False)


@st.composite
def stored_uploads(draw: st.DrawFn) -> MediaUpload:
    """Any valid upload in any state, every optional field maybe set, timestamps in any zone.

    Unique keys (id, playback id, provider upload id) are made unique per draw, so many examples
    can share one repository.
    """
    status = draw(st.sampled_from(UploadStatus))
    tag = uuid.uuid4().hex[:12]

    def optional() -> bool:
        return draw(st.booleans())

    ready = status is UploadStatus.READY
    return MediaUpload(
        id=f"{draw(_identifiers)}-{tag}",
        owner_id=draw(_identifiers),
        provider=draw(st.sampled_from(["fake", "mux", "cloudflare"])),
        file_name=draw(_texts),
        file_size=draw(st.integers(min_value=0, max_value=2**62)),
        mime_type=draw(st.sampled_from(["video/mp4", "video/quicktime", "video/webm"])),
        metadata=UploadMetadata(
            title=draw(_texts),
            description=draw(_texts),
            visibility=draw(st.sampled_from(Visibility)),
            extra=draw(st.dictionaries(_identifiers, _texts, max_size=3)),
        ),
        created_at=draw(_instants),
        updated_at=draw(_instants),
        status=status,
        progress=draw(st.integers(min_value=0, max_value=100)),
        provider_upload_id=f"pu-{tag}" if optional() else None,
        provider_asset_id=draw(st.none() | _identifiers),
        playback_id=f"pb-{tag}" if ready or optional() else None,
        upload_expires_at=draw(st.none() | _instants),
        duration=draw(_durations) if ready else draw(st.none() | _durations),
        thumbnail_url=draw(st.none() | _texts),
        aspect_ratio=draw(st.none() | st.sampled_from(["16:9", "4:3"])),
        failure_code=draw(st.sampled_from(FailureCode))
        if status is UploadStatus.FAILED
        else draw(st.none() | st.sampled_from(FailureCode)),
        failure_reason=draw(st.none() | _texts),
        ready_at=draw(st.none() | _instants),
        uploaded_at=draw(st.none() | _instants),
        version=draw(st.integers(min_value=0, max_value=10**6)),
    )
