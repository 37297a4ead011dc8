"""The SQLite writer thread: one transaction per job, its outcome back on the event loop."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from adapters.repositories.sql._sqlite_writer import SqliteWriter


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")


def _insert_then_fail(conn: sqlite3.Connection, n: int) -> None:
    conn.execute("INSERT INTO t VALUES (?)", (n,))
    raise LookupError("the job's own error")


def _insert(conn: sqlite3.Connection, n: int) -> int:
    conn.execute("INSERT INTO t VALUES (?)", (n,))
    return n


def _count(conn: sqlite3.Connection) -> tuple[int, bool, str]:
    (count,) = conn.execute("SELECT count(*) FROM t").fetchone()
    return count, conn.in_transaction, threading.current_thread().name


async def test_a_failing_job_is_rolled_back_and_its_error_raised(tmp_path: Path) -> None:
    """What a job wrote before it raised is gone, and the caller gets the job's exception."""
    writer = SqliteWriter(str(tmp_path / "w.db"))
    try:
        await writer.run(_create)
        with pytest.raises(LookupError, match="own error"):
            await writer.run(_insert_then_fail, 1)
        assert await writer.run(_insert, 2) == 2
        count, in_transaction, thread = await writer.read(_count)
        assert (count, in_transaction, thread) == (1, False, "media-sqlite")
    finally:
        writer.close()


async def test_jobs_run_in_order_and_close_stops_the_thread(tmp_path: Path) -> None:
    """Jobs queued at once run one after another; close waits for them, then the thread ends."""
    writer = SqliteWriter(str(tmp_path / "w.db"))
    await writer.run(_create)
    pending = [writer.run(_insert, n) for n in range(50)]
    assert [await job for job in pending] == list(range(50))
    writer.close()
    assert not writer._thread.is_alive()
    assert sqlite3.connect(tmp_path / "w.db").execute("SELECT count(*) FROM t").fetchone() == (50,)


async def test_an_unopenable_file_fails_every_job_with_the_drivers_error(tmp_path: Path) -> None:
    """A directory is no database: each job raises sqlite3's OperationalError (translated to
    RepositoryUnavailable by the repository)."""
    writer = SqliteWriter(str(tmp_path))
    try:
        for _ in range(2):
            with pytest.raises(sqlite3.OperationalError):
                await writer.run(_create)
    finally:
        writer.close()
