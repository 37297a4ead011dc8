"""The hot statements, written once and built for each engine's parameter style.

Both repositories send these through their drivers (sqlite3, asyncpg) rather than SQLAlchemy,
whose execution layer costs more than the statement on a lookup by key. The SQL is assembled
from the schema's column names (:data:`UPLOAD_COLUMNS`), never from input. Each
:class:`Statement` names its parameters, so values are bound by name on both engines.
"""

# ruff: noqa: S608 - the SQL is built from the schema's column names and placeholders, never input

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen

from adapters.repositories.sql._codec import UPLOAD_COLUMNS


@frozen
class Statement:
    """SQL text and the names of its parameters, in placeholder order."""

    sql: str
    params: tuple[str, ...]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        """``values`` in placeholder order, for a driver that binds by position (asyncpg)."""
        return [values[name] for name in self.params]


class _Placeholders:
    """Hands out one placeholder per parameter name: ``$1, $2 …`` or ``:name``."""

    def __init__(self, *, numbered: bool) -> None:
        self.numbered = numbered
        self.names: list[str] = []

    def __call__(self, name: str) -> str:
        if name not in self.names:
            self.names.append(name)
        return f"${self.names.index(name) + 1}" if self.numbered else f":{name}"


def _build(numbered: bool, write: Callable[[_Placeholders], str]) -> Statement:
    placeholders = _Placeholders(numbered=numbered)
    sql = write(placeholders)
    return Statement(sql, tuple(placeholders.names))


_COLUMNS = ", ".join(UPLOAD_COLUMNS)


def _select_by(column: str) -> Callable[[_Placeholders], str]:
    return lambda p: f"SELECT {_COLUMNS} FROM media_uploads WHERE {column} = {p(column)}"


def _insert(p: _Placeholders) -> str:
    values = ", ".join(p(name) for name in UPLOAD_COLUMNS)
    return f"INSERT INTO media_uploads ({_COLUMNS}) VALUES ({values})"


def _guarded_update(p: _Placeholders) -> str:
    """The next version of a row, written only if it is still at ``expected_version``."""
    assignments = ", ".join(f"{name} = {p(name)}" for name in UPLOAD_COLUMNS if name != "id")
    return (
        f"UPDATE media_uploads SET {assignments} "
        f"WHERE id = {p('id')} AND version = {p('expected_version')}"
    )


def _record_delivery(p: _Placeholders) -> str:
    """The delivery's key, unless it is there already (then no row is returned)."""
    return (
        "INSERT INTO webhook_deliveries (provider, delivery_id, received_at) "
        f"VALUES ({p('delivery_provider')}, {p('delivery_id')}, {p('received_at')}) "
        "ON CONFLICT DO NOTHING RETURNING 1"
    )


def _apply(p: _Placeholders) -> str:
    """The delivery's key and the guarded update in one statement (PostgreSQL).

    The update runs only if the key was new (``d``); the final SELECT answers 1 (both
    written) or 0 (a duplicate: nothing written), and when the key was new but the version had
    moved on it divides by zero, which aborts the statement and so takes the key back out: a
    lost race must not record the delivery.
    """
    return (
        f"WITH d AS ({_record_delivery(p)}), "
        f"u AS ({_guarded_update(p)} AND EXISTS (SELECT 1 FROM d) RETURNING 1) "
        "SELECT CASE WHEN (SELECT count(*) FROM d) = 0 THEN 0 "
        "ELSE 1 / (SELECT count(*) FROM u) END"
    )


@frozen
class UploadStatements:
    """The hot statements in one engine's parameter style."""

    select_by_id: Statement
    select_by_playback_id: Statement
    insert: Statement
    guarded_update: Statement
    record_delivery: Statement
    apply: Statement
    """:func:`_apply`: PostgreSQL only (SQLite runs the two statements in one transaction)."""


def _statements(*, numbered: bool) -> UploadStatements:
    return UploadStatements(
        select_by_id=_build(numbered, _select_by("id")),
        select_by_playback_id=_build(numbered, _select_by("playback_id")),
        insert=_build(numbered, _insert),
        guarded_update=_build(numbered, _guarded_update),
        record_delivery=_build(numbered, _record_delivery),
        apply=_build(numbered, _apply),
    )


POSTGRES = _statements(numbered=True)
"""For asyncpg: ``$n`` placeholders, bound with :meth:`Statement.args`."""

SQLITE = _statements(numbered=False)
"""For sqlite3: ``:name`` placeholders, bound with a dict of values (extra keys are ignored)."""
