"""Repository adapters: where uploads and processed webhook deliveries are stored.

``InMemoryMediaRepository`` for tests and demos, ``SqlAlchemyMediaRepository`` (in
:mod:`adapters.repositories.sql`, with engines, schema and migrations) for SQLite and PostgreSQL.
"""

from adapters.repositories.memory import InMemoryMediaRepository
from adapters.repositories.sql import (
    SqlAlchemyMediaRepository,
    create_engine,
    metadata,
    schema_is_current,
    schema_status,
    upgrade,
)

__all__ = [
    "InMemoryMediaRepository",
    "SqlAlchemyMediaRepository",
    "create_engine",
    "metadata",
    "schema_is_current",
    "schema_status",
    "upgrade",
]
