"""DriverPool's bookkeeping, with stand-in connections: reuse, waiting, hand-over, replacement."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from adapters.repositories.sql import DriverPool, PoolClosed, PoolTimeout, is_unavailable


class FakeConnection:
    """What the pool asks of an asyncpg connection."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False
        self.in_transaction = False
        self.terminated = False

    def is_closed(self) -> bool:
        return self.closed

    def is_in_transaction(self) -> bool:
        return self.in_transaction

    def terminate(self) -> None:
        self.terminated = self.closed = True

    async def close(self, **_: object) -> None:
        self.closed = True


class Opener:
    """Opens numbered fake connections; can be told to fail."""

    def __init__(self) -> None:
        self.opened: list[FakeConnection] = []
        self.fail_with: BaseException | None = None

    async def __call__(self) -> Any:
        await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        connection = FakeConnection(len(self.opened))
        self.opened.append(connection)
        return connection


def pool_of(size: int, timeout: float = 1.0) -> tuple[DriverPool, Opener]:
    opener = Opener()
    return DriverPool(opener, size=size, timeout=timeout), opener


async def test_an_idle_connection_is_reused_and_no_more_than_size_are_opened() -> None:
    pool, opener = pool_of(2)
    async with pool.acquire() as first:
        pass
    async with pool.acquire() as again:
        assert again is first

    async def hold() -> None:
        async with pool.acquire():
            await asyncio.sleep(0.01)

    await asyncio.gather(*(hold() for _ in range(10)))
    assert len(opener.opened) == 2


async def test_open_connects_everything_up_front_and_fails_when_the_server_is_down() -> None:
    pool, opener = pool_of(3)
    await pool.open()
    assert len(opener.opened) == 3
    down, failing = pool_of(2)
    failing.fail_with = ConnectionRefusedError("no server")
    with pytest.raises(ConnectionRefusedError):
        await down.open()


async def test_a_waiter_gets_the_connection_released_and_a_bounded_wait_times_out() -> None:
    pool, _ = pool_of(1, timeout=0.05)
    async with pool.acquire() as held:
        with pytest.raises(PoolTimeout) as timed_out:
            async with pool.acquire():
                pass
        assert is_unavailable(timed_out.value)
        waiter = asyncio.create_task(_use(pool))
        await asyncio.sleep(0.01)
    assert await waiter is held


async def test_each_waiter_times_out_at_its_own_deadline_under_the_one_timer() -> None:
    """Waiters that came later keep their full wait; those served in time are not failed."""
    pool, _ = pool_of(1, timeout=0.2)
    lease = pool.acquire()
    held = await lease.__aenter__()
    first = asyncio.create_task(_use(pool))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(_use(pool))
    third = asyncio.create_task(_use(pool))
    with pytest.raises(PoolTimeout):
        await asyncio.wait_for(first, 2.0)
    # Their deadlines are 0.1 s further on.
    assert not second.done()
    assert not third.done()
    await lease.__aexit__(None, None, None)
    assert await second is held
    assert await third is held  # second gave it back at once


async def test_a_waiter_queued_behind_expired_ones_still_times_out() -> None:
    """The timer is set again for the next deadline after it fires."""
    pool, _ = pool_of(1, timeout=0.05)
    async with pool.acquire():
        first = asyncio.create_task(_use(pool))
        await asyncio.sleep(0.03)
        second = asyncio.create_task(_use(pool))
        results = await asyncio.wait_for(
            asyncio.gather(first, second, return_exceptions=True), timeout=2.0
        )
    assert all(isinstance(result, PoolTimeout) for result in results)


async def test_a_waiter_cancelled_as_it_is_handed_a_connection_passes_it_on() -> None:
    pool, opener = pool_of(1)
    lease = pool.acquire()
    held = await lease.__aenter__()
    cancelled = asyncio.create_task(_use(pool))
    await asyncio.sleep(0)  # now waiting
    await lease.__aexit__(None, None, None)  # hands the connection to the waiter...
    cancelled.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await _use(pool) is held
    assert len(opener.opened) == 1


async def test_a_connection_in_doubt_is_terminated_and_replaced() -> None:
    pool, opener = pool_of(1)
    for error in (TimeoutError(), asyncpg.InterfaceError("mid-message"), OSError("reset")):
        with pytest.raises(type(error)):
            async with pool.acquire():
                raise error
        assert opener.opened[-1].terminated
    assert not (await _use(pool)).terminated
    assert len(opener.opened) == 4


async def test_a_cancelled_statement_does_not_come_back() -> None:
    pool, opener = pool_of(1)

    async def slow() -> None:
        async with pool.acquire():
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert opener.opened[0].terminated
    assert await _use(pool) is opener.opened[1]


async def test_an_error_the_server_reported_keeps_the_connection() -> None:
    pool, opener = pool_of(1)
    with pytest.raises(asyncpg.DivisionByZeroError):
        async with pool.acquire():
            raise asyncpg.DivisionByZeroError("division by zero")
    with pytest.raises(ValueError, match="ours"):
        async with pool.acquire():
            raise ValueError("ours, after the statement")
    assert await _use(pool) is opener.opened[0]
    assert len(opener.opened) == 1


async def test_a_connection_left_in_a_transaction_is_not_reused() -> None:
    pool, opener = pool_of(1)
    async with pool.acquire() as connection:
        connection.in_transaction = True
    assert await _use(pool) is opener.opened[1]


async def test_an_idle_connection_the_server_closed_is_skipped() -> None:
    pool, opener = pool_of(2)
    await pool.open()
    for connection in opener.opened:
        connection.closed = True
    fresh = await _use(pool)
    assert fresh is opener.opened[2]


async def test_when_a_connection_is_dropped_a_waiter_opens_one_in_its_place() -> None:
    pool, opener = pool_of(1)
    lease = pool.acquire()
    await lease.__aenter__()
    waiter = asyncio.create_task(_use(pool))
    await asyncio.sleep(0)
    await lease.__aexit__(OSError, OSError("reset"), None)  # dropped, not handed over
    assert await waiter is opener.opened[1]
    assert len(opener.opened) == 2


async def test_a_failed_open_frees_its_place() -> None:
    pool, opener = pool_of(1)
    opener.fail_with = ConnectionRefusedError("down")
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            await _use(pool)
    opener.fail_with = None
    assert await _use(pool) is opener.opened[0]


async def test_a_closed_pool_refuses_leases_and_closes_what_comes_back() -> None:
    pool, opener = pool_of(2)
    await pool.open()
    lease = pool.acquire()
    busy = await lease.__aenter__()
    await pool.close()
    assert all(c.closed for c in opener.opened if c is not busy)
    with pytest.raises(PoolClosed) as refused:
        await _use(pool)
    assert is_unavailable(refused.value)
    await lease.__aexit__(None, None, None)
    assert busy.terminated


async def test_waiters_are_refused_when_the_pool_closes() -> None:
    pool, _ = pool_of(1)
    lease = pool.acquire()
    await lease.__aenter__()
    waiter = asyncio.create_task(_use(pool))
    await asyncio.sleep(0)
    await pool.close()
    with pytest.raises(PoolClosed):
        await waiter
    await lease.__aexit__(None, None, None)


def test_a_pool_needs_a_connection() -> None:
    with pytest.raises(ValueError, match="at least one"):
        DriverPool(Opener(), size=0)


async def _use(pool: DriverPool) -> Any:
    async with pool.acquire() as connection:
        return connection


async def test_a_partial_open_gives_back_what_it_opened() -> None:
    opener = Opener()
    calls = 0

    async def flaky() -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionRefusedError("down for a moment")
        return await opener()

    flaky_pool = DriverPool(flaky, size=3)
    with pytest.raises(ConnectionRefusedError):
        await flaky_pool.open()
    await flaky_pool.open()  # all three places are still there to fill
    assert len(opener.opened) == 3
