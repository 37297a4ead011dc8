"""Engines for the two supported databases, with pools and timeouts set for a web service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.repositories.sql._pool import DriverPool

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def async_url(url: str) -> sa.URL:
    """``url`` with its async driver (``postgresql://`` → asyncpg, ``sqlite://`` → aiosqlite)."""
    parsed = sa.make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use postgresql:// (asyncpg) or sqlite:// (aiosqlite)"
        )
    return parsed.set(drivername=driver)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 0,
    pool_timeout: float = 10.0,
    pool_recycle: float = 1800.0,
    connect_timeout: float = 10.0,
    statement_timeout: float = 30.0,
    busy_timeout: float = 5.0,
    search_path: str | None = None,
    application_name: str = "media-core",
    echo: bool = False,
) -> AsyncEngine:
    """An ``AsyncEngine`` for a PostgreSQL or SQLite URL, ready for the SQL repository.

    - ``pool_size``/``max_overflow``: connections kept, and allowed beyond that under load;
      ``pool_timeout``: seconds to wait for a free one; ``pool_recycle``: seconds before a
      connection is replaced. The default is a fixed pool of 10: beyond a few connections per
      core, more only queue inside PostgreSQL, and overflow connections opened and closed under
      load cost more than the wait for a pooled one.
    - Connections are not pinged before use (a round trip on every request). A connection
      that died with a restarted database fails its request with ``RepositoryUnavailable``
      (503, which clients and providers retry) and is replaced; the others follow.
    - ``connect_timeout``: seconds to open a connection; ``statement_timeout``: seconds a
      statement may run (PostgreSQL enforces it on the server, and the client gives up a little
      later if the network hangs).
    - ``busy_timeout`` (SQLite): seconds a writer waits for another one to finish. A SQLite
      file gets one pooled connection whatever ``pool_size`` says (see below).
    - ``search_path`` (PostgreSQL): the schema(s) holding our tables, if not ``public``;
      ``application_name``: how our connections appear in ``pg_stat_activity``.

    SQLite files are opened in WAL mode with foreign keys on, and their directory is created
    if missing, so the embedded default works on a fresh machine.
    """
    parsed = async_url(url)
    options: dict[str, Any] = {"echo": echo, "pool_pre_ping": False}
    if parsed.get_backend_name() == "postgresql":
        options["connect_args"] = _pg_connect_args(
            connect_timeout=connect_timeout,
            statement_timeout=statement_timeout,
            search_path=search_path,
            application_name=application_name,
        )
        options.update(_pool_options(pool_size, max_overflow, pool_timeout, pool_recycle))
        return create_async_engine(parsed, **options)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    options["connect_args"] = {"timeout": busy_timeout}
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time. One pooled connection makes writers queue fairly in
        # the pool instead of retrying on SQLITE_BUSY with growing sleeps, which makes the tail
        # latency; the hot statements do not use the pool.
        options.update(_pool_options(1, 0, pool_timeout, pool_recycle))
    engine = create_async_engine(parsed, **options)
    _configure_sqlite(engine, busy_timeout=busy_timeout, wal=not in_memory)
    return engine


def create_driver_pool(
    url: str,
    *,
    size: int = 10,
    pool_timeout: float = 10.0,
    connect_timeout: float = 10.0,
    statement_timeout: float = 30.0,
    search_path: str | None = None,
    application_name: str = "media-core",
) -> DriverPool:
    """A :class:`DriverPool` of ``size`` asyncpg connections for the repository's hot statements.

    Pass it to ``PostgresMediaRepository(engine, driver_pool=pool)`` and close it
    (``await pool.close()``) before disposing of the engine. Lookups by key, inserts and the
    guarded writes then skip SQLAlchemy's pool checkout (a greenlet hop, a connection wrapper
    and a reset per use) and asyncpg's (a task and a timer per use). The connections have the
    same settings as :func:`create_engine`'s; ``pool_timeout`` bounds the wait for a free one.
    They are opened when first needed, or all at once by ``await pool.open()``.
    """
    parsed = async_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError("a driver pool is for PostgreSQL URLs only")
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    options = _pg_connect_args(
        connect_timeout=connect_timeout,
        statement_timeout=statement_timeout,
        search_path=search_path,
        application_name=application_name,
    )

    async def connect() -> Any:
        return await asyncpg.connect(dsn, **options)

    return DriverPool(connect, size=size, timeout=pool_timeout)


def _pg_connect_args(
    *,
    connect_timeout: float,
    statement_timeout: float,
    search_path: str | None,
    application_name: str,
) -> dict[str, Any]:
    server_settings = {
        "application_name": application_name,
        "statement_timeout": str(int(statement_timeout * 1000)),
    }
    if search_path is not None:
        server_settings["search_path"] = search_path
    return {
        "timeout": connect_timeout,
        # The server enforces statement_timeout; the client gives up a little later, in case
        # the network hangs.
        "command_timeout": statement_timeout + 5.0,
        "server_settings": server_settings,
    }


def _pool_options(
    pool_size: int, max_overflow: int, pool_timeout: float, pool_recycle: float
) -> dict[str, Any]:
    return {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout,
        "pool_recycle": pool_recycle,
    }


def sqlite_pragmas(*, busy_timeout: float = 5.0, wal: bool = True) -> list[str]:
    """What every connection to a SQLite database of ours runs first."""
    pragmas = [f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}", "PRAGMA foreign_keys = ON"]
    if wal:
        # WAL lets readers proceed while one writer commits. FULL (not NORMAL) syncs every
        # commit, so a webhook we acknowledged survives a power cut as well as a restart.
        pragmas += ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL"]
    return pragmas


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout: float, wal: bool) -> None:
    pragmas = sqlite_pragmas(busy_timeout=busy_timeout, wal=wal)

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()
