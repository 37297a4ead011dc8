"""Run the Alembic migrations shipped in the package, and tell whether a schema is current."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from attrs import frozen
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.repositories.sql._engine import create_engine
from adapters.repositories.sql._errors import translate_errors
from adapters.repositories.sql._schema import VERSION_TABLE

MIGRATIONS_PATH = Path(__file__).resolve().parent.parent / "migrations"
"""The Alembic script directory (``env.py``, ``versions/``) inside the installed package."""

VERSIONS_PATH = MIGRATIONS_PATH / "versions"
"""Our revision files, for a host's ``version_locations``."""

BRANCH_LABEL = "media_core"
"""The branch label of our revisions (``alembic upgrade media_core@head`` in a host's env)."""

# Any constant will do; it only has to be the same for every instance migrating one database.
_PG_MIGRATION_LOCK = 0x6D656469  # "medi"


@frozen
class SchemaStatus:
    """The revisions a database is at, and the newest this package ships."""

    current: tuple[str, ...]
    head: str

    @property
    def is_current(self) -> bool:
        """True when the database has every migration this package ships."""
        return self.head in self.current


def alembic_config(*, version_table: str = VERSION_TABLE) -> Config:
    """An Alembic ``Config`` for our migrations, built in code (no ``alembic.ini`` needed).

    With ``sqlalchemy.url`` set on it (``config.set_main_option``), the Alembic command API
    (``alembic.command.history``, ``downgrade``...) works on it directly.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    config.set_main_option("version_table", version_table)
    return config


def head_revision() -> str:
    """The newest revision this package ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package ships at least one revision
    return head


async def upgrade(
    engine_or_url: AsyncEngine | str, *, revision: str = "head", version_table: str = VERSION_TABLE
) -> None:
    """Migrate the database to ``revision`` (the newest by default), in one transaction.

    Safe to run from several instances at once on PostgreSQL (an advisory lock serializes them)
    and on an up-to-date schema (it does nothing). Raises ``RepositoryUnavailable`` if the
    database cannot be reached.
    """
    engine = create_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    config = alembic_config(version_table=version_table)
    try:
        with translate_errors("upgrade"):
            async with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
                await conn.run_sync(_run_upgrade, config, revision)
    finally:
        if engine is not engine_or_url:
            await engine.dispose()


def _run_upgrade(connection: sa.Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def schema_status(engine: AsyncEngine, *, version_table: str = VERSION_TABLE) -> SchemaStatus:
    """Where the database's schema is, against the newest revision this package ships."""

    def current(connection: sa.Connection) -> tuple[str, ...]:
        context = MigrationContext.configure(connection, opts={"version_table": version_table})
        return tuple(context.get_current_heads())

    with translate_errors("schema_status"):
        async with engine.connect() as conn:
            revisions = await conn.run_sync(current)
    return SchemaStatus(current=revisions, head=head_revision())


async def schema_is_current(engine: AsyncEngine, *, version_table: str = VERSION_TABLE) -> bool:
    """True when the database has every migration this package ships (``serve`` checks it)."""
    return (await schema_status(engine, version_table=version_table)).is_current
