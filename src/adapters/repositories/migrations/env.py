"""The Alembic environment of media-core's own migrations.

:func:`adapters.repositories.sql.upgrade` hands it an open connection in
``config.attributes["connection"]``. Run by the ``alembic`` command instead (with
``sqlalchemy.url`` set), it opens an async engine on that URL itself. Offline (``--sql``) mode
prints the DDL for the URL's dialect.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context

from adapters.repositories.sql._engine import create_engine
from adapters.repositories.sql._schema import VERSION_TABLE, metadata

config = context.config
version_table = config.get_main_option("version_table") or VERSION_TABLE


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=version_table,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            version_table=version_table,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or call adapters.repositories.sql.upgrade()")
    asyncio.run(_run_on_url(url))


_main()
