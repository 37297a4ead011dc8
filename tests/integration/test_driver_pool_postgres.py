"""DriverPool on a real PostgreSQL server: what the server or a timeout does to a connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.repositories.sql import DriverPool, create_driver_pool
from tests.support.repositories import postgres_url


@pytest.fixture
async def pool() -> AsyncIterator[DriverPool]:
    pool = create_driver_pool(postgres_url(), size=1, statement_timeout=0.3)
    try:
        yield pool
    finally:
        await pool.close()


async def _pid(pool: DriverPool) -> int:
    async with pool.acquire() as connection:
        return int(await connection.fetchval("SELECT pg_backend_pid()"))


async def test_one_connection_serves_one_statement_after_another(pool: DriverPool) -> None:
    assert {await _pid(pool) for _ in range(5)} == {await _pid(pool)}


async def test_a_backend_the_server_terminated_is_replaced(pool: DriverPool) -> None:
    before = await _pid(pool)
    killer = await asyncpg.connect(postgres_url())
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", before)
    finally:
        await killer.close()
    await asyncio.sleep(0.1)  # the server's goodbye reaches the idle connection
    assert await _pid(pool) != before


async def test_the_server_statement_timeout_keeps_the_connection(pool: DriverPool) -> None:
    before = await _pid(pool)
    with pytest.raises(asyncpg.QueryCanceledError):
        async with pool.acquire() as connection:
            await connection.execute("SELECT pg_sleep(5)")
    assert await _pid(pool) == before


async def test_a_statement_abandoned_by_the_client_costs_its_connection(pool: DriverPool) -> None:
    before = await _pid(pool)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05), pool.acquire() as connection:
            await connection.execute("SELECT pg_sleep(0.25)")
    # The abandoned statement may still run on the server: the connection was not reused.
    assert await _pid(pool) != before
