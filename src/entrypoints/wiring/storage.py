"""The repository of DATABASE_URL, its schema, and Redis."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import redis.asyncio

from adapters.repositories import sql
from adapters.repositories.memory import InMemoryMediaRepository
from entrypoints.settings import Settings
from media_core.ports import (
    MediaRepository,
)

log = logging.getLogger("entrypoints.container")


async def prepare_schema(settings: Settings, *, migrate: bool) -> bool:
    """Migrate the embedded SQLite (or any database with ``migrate``).

    Returns False, changing nothing, when another database's schema is out of date.
    """
    report = await database_schema(settings, migrate=migrate or is_embedded_database(settings))
    return report is None or report[1].is_current


async def open_repository(settings: Settings) -> AsyncIterator[MediaRepository]:
    """The repository named by DATABASE_URL: memory://, or SQL (SQLite file by default)."""
    if settings.database_url == "memory://":
        yield InMemoryMediaRepository()
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    if sql.async_url(url).get_backend_name() != "postgresql":
        engine = sql.create_engine(url)
        try:
            yield sql.SqliteMediaRepository(engine)
        finally:
            await engine.dispose()
        return
    # The hot statements use the driver pool; SQLAlchemy's pool serves the rest (listing,
    # usage, idempotency keys, the reconciler), which needs fewer connections.
    engine = sql.create_engine(url, pool_size=4, max_overflow=4)
    try:
        pool = sql.create_driver_pool(url, size=10)
        try:
            await pool.open()
        except Exception as exc:
            if not sql.is_unavailable(exc):
                raise
            # Serve anyway: /readyz reports the database down, and connections open once it
            # is back.
            log.warning("the database is unavailable at start: %s", exc)
        try:
            yield sql.PostgresMediaRepository(engine, driver_pool=pool)
        finally:
            await pool.close()
    finally:
        await engine.dispose()


async def open_redis(settings: Settings) -> AsyncIterator[redis.asyncio.Redis | None]:
    """The Redis client when REDIS_URL is set; short timeouts, no hidden retries."""
    if not settings.redis_url:
        yield None
        return
    client = redis.asyncio.Redis.from_url(
        settings.redis_url,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        health_check_interval=30,
        max_connections=64,
    )
    try:
        yield client
    finally:
        await client.aclose()


SchemaReport = tuple[sql.SchemaStatus, sql.SchemaStatus]
"""Where a database's schema was before ``database_schema`` and where it is after."""


async def database_schema(settings: Settings, *, migrate: bool = False) -> SchemaReport | None:
    """Where the schema of DATABASE_URL stands, migrating it first with ``migrate``.

    None for ``memory://``, which has no schema. Raises ``RepositoryUnavailable`` when the
    database cannot be reached.
    """
    if settings.database_url == "memory://":
        return None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = sql.create_engine(settings.effective_database_url)
    try:
        before = after = await sql.schema_status(engine)
        if migrate and not before.is_current:
            await sql.upgrade(engine)
            after = await sql.schema_status(engine)
        return before, after
    finally:
        await engine.dispose()


def is_embedded_database(settings: Settings) -> bool:
    """True for the embedded SQLite file, which ``serve`` migrates by itself."""
    return settings.effective_database_url.startswith("sqlite")


async def ping_redis(client: redis.asyncio.Redis | None) -> bool | None:
    """PING the configured Redis: True if it answers; None when REDIS_URL is unset."""
    if client is None:
        return None
    return bool(await client.ping())
