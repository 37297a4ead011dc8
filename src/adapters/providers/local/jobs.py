"""Durable processing jobs of the local provider, in the service's database (``local_jobs``).

One job per upload. A worker claims the oldest job that is queued, or running under a lease
that ran out (its worker died), and holds it by renewing the lease while it works: a worker
killed mid-job leaves a job that another one takes again once the lease ends. On PostgreSQL the
claim locks the row it picks with ``FOR UPDATE SKIP LOCKED``, as the reconciler claims uploads,
so concurrent workers on any number of machines never take the same job; SQLite runs the one
``UPDATE … RETURNING`` statement alone among writers, which gives the same guarantee.

Every change after the claim is guarded by the worker's id and the ``running`` state, so a
worker that lost its job (cancelled, or taken over after its lease) learns it and stops.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from attrs import frozen
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.repositories.sql import local_jobs
from media_core.errors import RepositoryUnavailable


class JobState(enum.Enum):
    """Where a job is in its life; ``done``, ``failed`` and ``cancelled`` are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@frozen
class Job:
    """One upload to process: its source in storage, and what became of it."""

    upload_id: str
    playback_id: str
    source: str
    """The storage key of the uploaded file."""
    mime_type: str
    state: JobState
    attempts: int
    worker: str | None
    lease_until: datetime | None
    progress: int
    duration: float | None
    stored_bytes: int
    failure_code: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime


_columns = local_jobs.c


class SqlJobStore:
    """Jobs in ``local_jobs`` over an SQLAlchemy ``AsyncEngine`` (PostgreSQL or SQLite)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    async def enqueue(
        self, *, upload_id: str, playback_id: str, source: str, mime_type: str, now: datetime
    ) -> None:
        """Queue ``upload_id``; a job queued before for it is queued afresh (same source)."""
        values: dict[str, Any] = {
            "upload_id": upload_id,
            "playback_id": playback_id,
            "source": source,
            "mime_type": mime_type,
            "state": JobState.QUEUED.value,
            "attempts": 0,
            "worker": None,
            "lease_until": None,
            "progress": 0,
            "duration": None,
            "stored_bytes": 0,
            "failure_code": None,
            "failure_reason": None,
            "created_at": now,
            "updated_at": now,
        }
        async with self._begin() as connection:
            await connection.execute(sa.delete(local_jobs).where(_columns.upload_id == upload_id))
            await connection.execute(sa.insert(local_jobs).values(values))

    async def claim(self, worker: str, now: datetime, lease: timedelta) -> Job | None:
        """Take the oldest job that is queued or whose lease ran out; None when there is none."""
        claimable = sa.or_(
            _columns.state == JobState.QUEUED.value,
            sa.and_(_columns.state == JobState.RUNNING.value, _columns.lease_until < now),
        )
        pick = (
            sa.select(_columns.upload_id)
            .where(claimable)
            .order_by(_columns.created_at, _columns.upload_id)
            .limit(1)
        )
        if self._postgres:
            pick = pick.with_for_update(skip_locked=True)
        statement = (
            sa.update(local_jobs)
            # The state is checked again: on PostgreSQL a row can change between the pick and
            # the update under READ COMMITTED.
            .where(_columns.upload_id == pick.scalar_subquery(), claimable)
            .values(
                state=JobState.RUNNING.value,
                worker=worker,
                lease_until=now + lease,
                attempts=_columns.attempts + 1,
                progress=0,
                updated_at=now,
            )
            .returning(*local_jobs.c)
        )
        async with self._begin() as connection:
            row = (await connection.execute(statement)).mappings().first()
        return _job(row) if row is not None else None

    async def renew(
        self, upload_id: str, worker: str, now: datetime, lease: timedelta, progress: int
    ) -> bool:
        """Extend ``worker``'s lease and record progress; False if the job is no longer its."""
        return await self._guarded(
            upload_id, worker, lease_until=now + lease, progress=progress, updated_at=now
        )

    async def finish(
        self, upload_id: str, worker: str, now: datetime, *, duration: float, stored_bytes: int
    ) -> bool:
        """Mark the job done; False if it is no longer ``worker``'s (cancelled meanwhile)."""
        return await self._guarded(
            upload_id,
            worker,
            state=JobState.DONE.value,
            lease_until=None,
            progress=100,
            duration=duration,
            stored_bytes=stored_bytes,
            updated_at=now,
        )

    async def fail(
        self, upload_id: str, worker: str, now: datetime, code: str, reason: str
    ) -> bool:
        """Mark the job failed for good; False if it is no longer ``worker``'s."""
        return await self._guarded(
            upload_id,
            worker,
            state=JobState.FAILED.value,
            lease_until=None,
            failure_code=code,
            failure_reason=reason,
            updated_at=now,
        )

    async def release(self, upload_id: str, worker: str, now: datetime) -> bool:
        """Give the job back (a worker shutting down): queued again, at once."""
        return await self._guarded(
            upload_id, worker, state=JobState.QUEUED.value, lease_until=None, updated_at=now
        )

    async def cancel(self, upload_id: str, now: datetime) -> Job | None:
        """Stop the job of ``upload_id`` unless it is final; returns it as it was, if any."""
        async with self._begin() as connection:
            row = (
                (
                    await connection.execute(
                        sa.select(local_jobs).where(_columns.upload_id == upload_id)
                    )
                )
                .mappings()
                .first()
            )
            await connection.execute(
                sa.update(local_jobs)
                .where(
                    _columns.upload_id == upload_id,
                    _columns.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
                )
                .values(state=JobState.CANCELLED.value, lease_until=None, updated_at=now)
            )
        return _job(row) if row is not None else None

    async def forget(self, upload_id: str) -> None:
        """Remove the job of ``upload_id`` (its upload is deleted); a worker on it then finds
        every change refused, and stops."""
        async with self._begin() as connection:
            await connection.execute(sa.delete(local_jobs).where(_columns.upload_id == upload_id))

    async def get(self, upload_id: str) -> Job | None:
        """The job of ``upload_id``."""
        async with self._connect() as connection:
            row = (
                (
                    await connection.execute(
                        sa.select(local_jobs).where(_columns.upload_id == upload_id)
                    )
                )
                .mappings()
                .first()
            )
        return _job(row) if row is not None else None

    async def stored_bytes(self) -> int:
        """Bytes the finished jobs' outputs take in storage, all together."""
        async with self._connect() as connection:
            total = await connection.scalar(sa.select(sa.func.sum(_columns.stored_bytes)))
        return int(total or 0)

    async def _guarded(self, upload_id: str, worker: str, **values: Any) -> bool:
        statement = (
            sa.update(local_jobs)
            .where(
                _columns.upload_id == upload_id,
                _columns.worker == worker,
                _columns.state == JobState.RUNNING.value,
            )
            .values(**values)
        )
        async with self._begin() as connection:
            result = await connection.execute(statement)
        return bool(result.rowcount)

    @contextlib.asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        async with self._translated(), self._engine.begin() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        async with self._translated(), self._engine.connect() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
            raise RepositoryUnavailable("the jobs database is unavailable") from exc


def _job(row: sa.RowMapping) -> Job:
    return Job(
        upload_id=row["upload_id"],
        playback_id=row["playback_id"],
        source=row["source"],
        mime_type=row["mime_type"],
        state=JobState(row["state"]),
        attempts=row["attempts"],
        worker=row["worker"],
        lease_until=row["lease_until"],
        progress=row["progress"],
        duration=row["duration"],
        stored_bytes=row["stored_bytes"],
        failure_code=row["failure_code"],
        failure_reason=row["failure_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
