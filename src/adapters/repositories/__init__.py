"""Repository adapters: where uploads and processed webhook deliveries are stored.

``InMemoryMediaRepository`` for tests and demos; ``SqliteMediaRepository`` and
``PostgresMediaRepository`` (in :mod:`adapters.repositories.sql`, with engines, schema and
migrations) for the two databases.
"""

from adapters.repositories.memory import InMemoryMediaRepository
from adapters.repositories.sql import (
    PostgresMediaRepository,
    SqliteMediaRepository,
    create_engine,
    metadata,
    schema_is_current,
    schema_status,
    sql_repository,
    upgrade,
)

__all__ = [
    "InMemoryMediaRepository",
    "PostgresMediaRepository",
    "SqliteMediaRepository",
    "create_engine",
    "metadata",
    "schema_is_current",
    "schema_status",
    "sql_repository",
    "upgrade",
]
