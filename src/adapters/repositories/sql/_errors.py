"""The one place database errors become ``RepositoryUnavailable``: :class:`translate_errors`."""

from __future__ import annotations

import sqlite3
from types import TracebackType

import asyncpg
from sqlalchemy import exc as sa_exc

from media_core.errors import RepositoryUnavailable

# SQLSTATE classes that mean "the database is not there for us right now": connection exception,
# insufficient resources, operator intervention (shutdown, terminated backend, statement timeout),
# system error; plus lock_not_available.
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})
_UNAVAILABLE_SQLSTATES = frozenset({"55P03"})


def is_unavailable(error: BaseException) -> bool:
    """True if ``error`` means the database cannot serve us now (rather than a bug of ours)."""
    # Raised by the drivers themselves on the hot paths: a SQLite file locked past the busy
    # timeout, unreadable or without its tables; a PostgreSQL connection closed, lost or refused.
    driver_down = (
        sqlite3.OperationalError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError
    )
    if isinstance(
        error,
        OSError | TimeoutError | sa_exc.TimeoutError | sa_exc.DisconnectionError | driver_down,
    ):
        return True
    if isinstance(error, asyncpg.PostgresError):
        return _unavailable_state(error.sqlstate)
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(
        error, sa_exc.OperationalError | sa_exc.InterfaceError
    ):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return _unavailable_state(sqlstate)


def _unavailable_state(sqlstate: object) -> bool:
    return isinstance(sqlstate, str) and (
        sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or sqlstate in _UNAVAILABLE_SQLSTATES
    )


class translate_errors:
    """Raise ``RepositoryUnavailable`` for what :func:`is_unavailable` accepts; pass the rest.

    A class rather than ``@contextmanager``: every statement goes through one, and a class
    spares the generator that each use of a ``@contextmanager`` creates.
    """

    __slots__ = ("_action",)

    def __init__(self, action: str) -> None:
        self._action = action

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(error, Exception) and is_unavailable(error):
            raise RepositoryUnavailable(
                f"the database is unavailable ({self._action}): {_reason(error)}"
            ) from error


def _reason(error: BaseException) -> str:
    """The driver's own words, without the SQL statement and parameters SQLAlchemy adds."""
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else 'no detail'}"
