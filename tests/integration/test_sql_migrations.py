"""The shipped Alembic migrations build exactly the schema ``metadata`` describes."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.repositories.sql import (
    BRANCH_LABEL,
    VERSION_TABLE,
    VERSIONS_PATH,
    alembic_config,
    create_engine,
    head_revision,
    metadata,
    schema_is_current,
    schema_status,
    upgrade,
)
from tests.support.repositories import fresh_postgres_schema, postgres_engine, postgres_url


@pytest.fixture
def pg_empty_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema with no tables in it."""
    with fresh_postgres_schema(postgres_url(), migrate=False) as schema:
        yield schema


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """An empty database: a SQLite file path, or a PostgreSQL URL and schema."""
    if request.param == "postgres":
        return postgres_url(), request.getfixturevalue("pg_empty_schema")
    return f"sqlite:///{tmp_path / 'media.db'}", None


@pytest.fixture
async def engine(database: tuple[str, str | None]) -> AsyncIterator[AsyncEngine]:
    """An engine on the empty database."""
    url, schema = database
    engine = postgres_engine(url, schema) if schema else create_engine(url)
    yield engine
    await engine.dispose()


async def _differences(engine: AsyncEngine) -> list[Any]:
    def compare(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(compare)


async def test_upgrade_builds_the_schema_that_metadata_describes(engine: AsyncEngine) -> None:
    """From empty to head: out of date before, current after, and no difference to ``metadata``."""
    before = await schema_status(engine)
    assert before.current == ()
    assert not before.is_current
    assert not await schema_is_current(engine)

    await upgrade(engine)

    assert await schema_is_current(engine)
    assert (await schema_status(engine)).current == (head_revision(),)
    assert await _differences(engine) == []
    await upgrade(engine)  # a second run finds nothing to do
    assert await _differences(engine) == []


async def test_the_schema_comparison_notices_a_missing_index(engine: AsyncEngine) -> None:
    """The comparison above can fail: dropping the listing index shows up as a difference."""
    await upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP INDEX ix_media_uploads_owner_listing"))
    differences = await _differences(engine)
    assert [diff[0] for diff in differences] == ["add_index"]
    assert differences[0][1].name == "ix_media_uploads_owner_listing"


async def test_downgrade_to_base_and_back_leaves_a_current_schema(engine: AsyncEngine) -> None:
    """Every revision reverts cleanly, and the schema can be rebuilt afterwards."""
    await upgrade(engine)

    def downgrade(connection: sa.Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    async with engine.begin() as conn:
        await conn.run_sync(downgrade)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert not tables & set(metadata.tables)
    assert not await schema_is_current(engine)
    await upgrade(engine)
    assert await schema_is_current(engine)


async def test_concurrent_upgrades_on_postgresql_serialize(pg_empty_schema: str) -> None:
    """Several instances migrating one database at once all succeed (an advisory lock)."""
    engines = [postgres_engine(postgres_url(), pg_empty_schema) for _ in range(3)]
    try:
        await asyncio.wait_for(asyncio.gather(*(upgrade(e) for e in engines)), timeout=30)
        assert await schema_is_current(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()


async def test_upgrade_accepts_a_url_and_disposes_its_own_engine(tmp_path: Path) -> None:
    """``upgrade("sqlite:///...")`` migrates the file, as ``media-core migrate`` will."""
    url = f"sqlite:///{tmp_path / 'nested' / 'media.db'}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        assert await schema_is_current(engine)
    finally:
        await engine.dispose()


def test_the_alembic_command_line_environment_migrates_a_url(tmp_path: Path) -> None:
    """Run through Alembic's own API with ``sqlalchemy.url`` set, ``env.py`` opens its engine."""
    url = f"sqlite:///{tmp_path / 'media.db'}"
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")

    async def check() -> bool:
        engine = create_engine(url)
        try:
            return await schema_is_current(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(check())


def test_offline_mode_prints_the_ddl_for_a_dialect() -> None:
    """``alembic upgrade --sql`` renders PostgreSQL DDL without a database."""
    buffer = io.StringIO()
    config = alembic_config()
    config.output_buffer = buffer
    config.set_main_option("sqlalchemy.url", "postgresql://nobody@127.0.0.1/none")
    command.upgrade(config, "head", sql=True)
    ddl = buffer.getvalue()
    assert "CREATE TABLE media_uploads" in ddl
    assert "JSONB" in ddl
    assert "CREATE INDEX ix_media_uploads_owner_listing" in ddl
    assert f"CREATE TABLE {VERSION_TABLE}" in ddl


def test_the_shipped_revisions_form_one_labelled_branch() -> None:
    """One head, labelled for hosts that add our versions to their own environment."""
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [head_revision()]
    assert BRANCH_LABEL in script.get_revision(f"{BRANCH_LABEL}@head").branch_labels
    assert Path(script.get_revision(head_revision()).path).parent == VERSIONS_PATH
