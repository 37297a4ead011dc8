"""``sql_repository``: the SQL repository for an engine, whichever database it reaches."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.repositories.sql._pool import DriverPool
from adapters.repositories.sql._postgres import PostgresMediaRepository
from adapters.repositories.sql._sqlite import SqliteMediaRepository

SqlMediaRepository = SqliteMediaRepository | PostgresMediaRepository
"""Either SQL repository."""


def sql_repository(
    engine: AsyncEngine, *, driver_pool: DriverPool | None = None
) -> SqlMediaRepository:
    """:class:`PostgresMediaRepository` (with ``driver_pool``) or :class:`SqliteMediaRepository`,
    as ``engine`` reaches PostgreSQL or a SQLite file; ``ValueError`` for anything else."""
    if engine.dialect.name == "postgresql":
        return PostgresMediaRepository(engine, driver_pool=driver_pool)
    if driver_pool is not None:
        raise ValueError("a driver pool is for PostgreSQL only")
    return SqliteMediaRepository(engine)
