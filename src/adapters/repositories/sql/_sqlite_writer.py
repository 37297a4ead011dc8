"""``SqliteWriter``: the writes to one SQLite file, each transaction one job on one thread."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, TypeVarTuple

from adapters.repositories.sql._engine import sqlite_pragmas

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# (loop, future, in a transaction?, job, args); None stops the thread.
_Job = tuple[
    asyncio.AbstractEventLoop, "asyncio.Future[Any]", bool, Callable[..., Any], tuple[Any, ...]
]


class SqliteWriter:
    """Runs write transactions on one dedicated thread with its own connection.

    Through SQLAlchemy and aiosqlite, BEGIN, each statement and COMMIT are separate hops to the
    driver's thread; here a whole transaction is one hop, and the event loop never waits for
    the commit's fsync. SQLite has one writer at a time anyway, so one thread loses nothing.
    Reads of rows about to be written go here too (:meth:`read`): this connection's page cache
    holds what it wrote, where any other connection's cache is dropped by every commit.

    A job's result comes back through ``call_soon_threadsafe``, without the concurrent future
    an executor wraps around each call: a webhook makes two of these hops.
    """

    def __init__(self, path: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # The thread holds the queue, not this object, so that dropping the writer stops it.
        self._thread = threading.Thread(
            target=_work, args=(path, self._jobs), name="media-sqlite", daemon=True
        )
        self._thread.start()
        self._stop = weakref.finalize(self, self._jobs.put, None)

    def run(self, job: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> asyncio.Future[T]:
        """Run ``job(connection, *args)`` in one transaction (``BEGIN IMMEDIATE``, so it holds
        the write lock throughout) off the event loop; await the result. An exception rolls
        the transaction back and is raised to the caller."""
        return self._submit(True, job, args)

    def read(self, job: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> asyncio.Future[T]:
        """Run ``job(connection, *args)`` outside a transaction (one statement needs none)."""
        return self._submit(False, job, args)

    def _submit(
        self, transaction: bool, job: Callable[..., T], args: tuple[Any, ...]
    ) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, transaction, job, args))
        return future

    def close(self) -> None:
        """Finish the jobs queued so far, then stop the thread and close its connection."""
        self._stop()
        if self._thread is not threading.current_thread():
            self._thread.join()


def _work(path: str, jobs: queue.SimpleQueue[_Job | None]) -> None:
    connection: sqlite3.Connection | None = None
    try:
        while (item := jobs.get()) is not None:
            loop, future, transaction, job, args = item
            try:
                if connection is None:
                    connection = _connect(path)
                result = (_in_transaction if transaction else _alone)(connection, job, args)
            except BaseException as exc:  # handed to the caller, like any result
                _deliver(loop, _fail, future, exc)
            else:
                _deliver(loop, _succeed, future, result)
    finally:
        if connection is not None:
            connection.close()


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # The same settings as the engine's connections: WAL, fsync on every commit.
    for pragma in sqlite_pragmas():
        connection.execute(pragma)
    return connection


def _in_transaction(
    connection: sqlite3.Connection, job: Callable[..., Any], args: tuple[Any, ...]
) -> Any:
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = job(connection, *args)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return result


def _alone(connection: sqlite3.Connection, job: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return job(connection, *args)


def _deliver(
    loop: asyncio.AbstractEventLoop,
    settle: Callable[[asyncio.Future[Any], Any], None],
    future: asyncio.Future[Any],
    outcome: Any,
) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits the outcome now
        loop.call_soon_threadsafe(settle, future, outcome)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # a caller that was cancelled has gone
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
