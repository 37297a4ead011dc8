"""``DriverPool``: a small pool of asyncpg connections for the repository's hot statements.

asyncpg's own pool pays, on every use, a task to shield the release, a timer for the idle
lifetime and a reset query, which on this service's hot paths (one statement per checkout)
outweighs the statement's own client work. Here taking an idle connection
and giving it back are plain list operations: nothing waits, no task or timer is made, and the
event loop is not involved unless every connection is busy.

Rules that keep it safe:

- A connection is reused only if the statement finished in an orderly way: no exception, or an
  error PostgreSQL itself reported (the connection is then in sync). After anything else (a
  timeout, a cancellation, a dropped socket) it is terminated and a new one is opened on demand.
- An idle connection the server closed is noticed by asyncpg without a round trip and skipped.
- Waiting for a free connection is bounded by ``timeout``; a connection handed to a waiter that
  gave up in the same instant is put back, never lost. Every wait has the same bound and waiters
  queue in order, so the oldest waiter always has the nearest deadline: one timer, set for the
  head of the queue, bounds them all (under load every connection is busy, and a timer per
  wait would be the dearest part of a checkout).
- One pool serves one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import asyncpg

Connect = Callable[[], Awaitable[Any]]


class PoolTimeout(TimeoutError):
    """No connection became free within the pool's timeout."""


class PoolClosed(ConnectionError):
    """The pool was closed (the service is stopping)."""


class DriverPool:
    """Up to ``size`` asyncpg connections opened by ``connect`` when first needed."""

    def __init__(self, connect: Connect, *, size: int = 10, timeout: float = 10.0) -> None:
        if size < 1:
            raise ValueError(f"a pool needs at least one connection, got {size}")
        self._connect = connect
        self._size = size
        self._timeout = timeout
        self._idle: list[Any] = []  # most recently used last: hot connections stay hot
        # (deadline on the loop's clock, future): deadlines grow along the queue.
        self._waiters: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._count = 0  # connections idle, in use, or being opened
        self._closed = False

    def acquire(self) -> _Lease:
        """``async with pool.acquire() as connection:`` one connection for a few statements."""
        return _Lease(self)

    async def open(self, count: int | None = None) -> None:
        """Open ``count`` connections now (default: all), so that the first requests need not.

        Raises what the driver raises if the server cannot be reached.
        """
        wanted = self._size if count is None else min(count, self._size)
        taken: list[Any] = []
        try:
            for _ in range(wanted):
                taken.append(await self._take())
        finally:
            for connection in taken:
                self._give(connection, healthy=True)

    async def close(self) -> None:
        """Close the idle connections and refuse new leases; busy ones close when released."""
        self._closed = True
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the connection pool is closed"))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        idle, self._idle = self._idle, []
        for connection in idle:
            self._count -= 1
            with contextlib.suppress(Exception):
                await connection.close(timeout=5.0)

    async def _take(self) -> Any:
        if self._closed:
            raise PoolClosed("the connection pool is closed")
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():
                return connection
            self._count -= 1  # closed by the server while idle
        if self._count < self._size:
            return await self._open_one()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        self._waiters.append((loop.time() + self._timeout, waiter))
        if self._timer is None:
            self._timer = loop.call_at(self._waiters[0][0], self._expire_waiters)
        try:
            connection = await waiter
        except PoolTimeout:
            raise
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed over just as we gave up: pass the connection (or the place) on.
                handed = waiter.result()
                if handed is None:
                    self._count -= 1
                    self._hand_place_to_waiter()
                else:
                    self._give(handed, healthy=True)
            raise
        if connection is None:  # a connection was dropped: its place is ours to fill
            return await self._open_one(counted=True)
        return connection

    async def _open_one(self, *, counted: bool = False) -> Any:
        if not counted:
            self._count += 1
        try:
            return await self._connect()
        except BaseException:
            self._count -= 1
            self._hand_place_to_waiter()
            raise

    def _expire_waiters(self) -> None:
        """The timer: fail the waiters whose deadline passed, then wait for the next one."""
        self._timer = None
        waiters = self._waiters
        now = asyncio.get_running_loop().time()
        while waiters and (waiters[0][0] <= now or waiters[0][1].done()):
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_exception(
                    PoolTimeout(f"no database connection became free within {self._timeout:g} s")
                )
        if waiters:
            self._timer = asyncio.get_running_loop().call_at(waiters[0][0], self._expire_waiters)

    def _give(self, connection: Any, *, healthy: bool) -> None:
        if self._closed or not healthy or connection.is_closed():
            connection.terminate()
            self._count -= 1
            self._hand_place_to_waiter()
            return
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _hand_place_to_waiter(self) -> None:
        """A connection went away: let the first waiter open a new one in its place."""
        while self._waiters and not self._closed:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                self._count += 1
                waiter.set_result(None)
                return


class _Lease:
    """One checkout: the connection goes back on exit, or is terminated if it may be unsound."""

    __slots__ = ("_connection", "_pool")

    def __init__(self, pool: DriverPool) -> None:
        self._pool = pool
        self._connection: Any = None

    async def __aenter__(self) -> Any:
        self._connection = await self._pool._take()
        return self._connection

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        self._pool._give(connection, healthy=_reusable_after(connection, error))


def _reusable_after(connection: Any, error: BaseException | None) -> bool:
    """True if the connection is known to be idle and in sync after ``error`` (or none).

    An error the server reported leaves it in sync, and so does one of ours raised after the
    statement completed; a timeout or cancellation may have left a statement running, and a
    driver error may have left the protocol mid-message.
    """
    if connection.is_closed():
        return False
    if isinstance(error, asyncio.CancelledError | TimeoutError | asyncpg.InterfaceError | OSError):
        return False
    if error is not None and not isinstance(error, Exception):
        return False
    return not connection.is_in_transaction()
