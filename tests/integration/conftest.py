"""Fixtures shared by the integration tests that run against every repository backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.repositories import BACKENDS, fresh_postgres_schema, postgres_url


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    """A migrated PostgreSQL schema of the requesting module's own, dropped at the end."""
    with fresh_postgres_schema(postgres_url()) as schema:
        yield schema


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The backend under test, with its PostgreSQL schema when it needs one."""
    if request.param == "postgres":
        return request.param, request.getfixturevalue("pg_schema")
    return request.param, None
