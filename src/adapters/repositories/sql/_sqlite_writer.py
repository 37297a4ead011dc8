"""``SqliteWriter``: the writes to one SQLite file, each transaction one job on one thread."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, TypeVarTuple

from adapters.repositories.sql._engine import sqlite_pragmas

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class SqliteWriter:
    """Runs write transactions on one dedicated thread with its own connection.

    Through SQLAlchemy and aiosqlite, BEGIN, each statement and COMMIT are separate hops to the
    driver's thread; here a whole transaction is one hop, and the event loop never waits for
    the commit's fsync. SQLite has one writer at a time anyway, so one thread loses nothing.
    """

    def __init__(self, path: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-sqlite")
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def run(self, job: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> asyncio.Future[T]:
        """Run ``job(connection, *args)`` in one transaction (``BEGIN IMMEDIATE``, so it holds
        the write lock throughout) off the event loop; await the result. An exception rolls
        the transaction back and is raised to the caller."""
        return asyncio.get_running_loop().run_in_executor(
            self._executor, self._transaction, job, *args
        )

    def _transaction(self, job: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> T:
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            # The same settings as the engine's connections: WAL, fsync on every commit.
            for pragma in sqlite_pragmas():
                connection.execute(pragma)
            self._connection = connection
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            result = job(self._connection, *args)
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")
        return result

    def close(self) -> None:
        """Stop the thread, then close the connection (no job runs by then)."""
        self._executor.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()
            self._connection = None
