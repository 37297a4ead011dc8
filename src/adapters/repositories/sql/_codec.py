"""Uploads to rows and back, column by column by name, from the table in ``_schema.py``.

Every column of ``media_uploads`` is a field of ``MediaUpload`` of the same name, except the
bookkeeping ones (:data:`BOOKKEEPING_COLUMNS`); importing this module checks it, so a column
added to the schema without its field (or the reverse) fails at once rather than quietly.
"""

from __future__ import annotations

import enum
import json
import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import attrs
import sqlalchemy as sa

from adapters.repositories._common import TIMESTAMPS, require_aware
from adapters.repositories.sql._schema import media_uploads
from media_core.model import FailureCode, MediaUpload, UploadMetadata, UploadStatus, Visibility

E = TypeVar("E", bound=enum.Enum)

BOOKKEEPING_COLUMNS = frozenset({"reconcile_after"})
"""Columns of ``media_uploads`` that are not part of the model (the reconciler's lease)."""


def upload_columns(table: sa.Table) -> tuple[str, ...]:
    """The columns of ``table`` that make an upload, in the order of ``MediaUpload``'s fields;
    ``RuntimeError`` unless they are exactly those fields."""
    columns = {c.name for c in table.c if c.name not in BOOKKEEPING_COLUMNS}
    fields = tuple(field.name for field in attrs.fields(MediaUpload))
    disagreeing = columns ^ set(fields)
    if disagreeing:
        raise RuntimeError(f"{table.name} and MediaUpload disagree on {sorted(disagreeing)}")
    return fields


UPLOAD_COLUMNS = upload_columns(media_uploads)
"""The columns that make an upload, in the model's field order: the hot statements select
them so, and a row of them constructs an upload by position."""

_upload_values = operator.attrgetter(*UPLOAD_COLUMNS)

_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_decode_json = json.JSONDecoder().decode


def sqlite_time(value: datetime) -> str:
    """An aware time as SQLAlchemy's ``UtcDateTime`` keeps it in SQLite: naive UTC text."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # without "+00:00"


def _metadata_text(metadata: UploadMetadata) -> str:
    return _COMPACT_JSON.encode(
        {
            "title": metadata.title,
            "description": metadata.description,
            "visibility": metadata.visibility.value,
            "extra": dict(metadata.extra),
        }
    )


def _members(enum: type[E]) -> Callable[[Any], E]:
    """``enum(value)`` as a dict lookup (calling an Enum costs several times more); an unknown
    value still goes through the Enum, for its ``ValueError``."""
    by_value = {member.value: member for member in enum}

    def member(value: Any) -> E:
        found = by_value.get(value)
        return found if found is not None else enum(value)

    return member


_status = _members(UploadStatus)
_failure_code = _members(FailureCode)
_visibility = _members(Visibility)


def _metadata(value: str | Mapping[str, Any]) -> UploadMetadata:
    # The drivers hand JSON over as text; SQLAlchemy's JSON type has parsed it already.
    data = _decode_json(value) if isinstance(value, str) else value
    return UploadMetadata(
        data.get("title", ""),
        data.get("description", ""),
        _visibility(data.get("visibility", "PRIVATE")),
        dict(data.get("extra", {})),
    )


def _time(value: str | datetime) -> datetime:
    # SQLite's text is naive UTC; asyncpg and UtcDateTime give aware UTC datetimes.
    return datetime.fromisoformat(value + "+00:00") if isinstance(value, str) else value


Convert = Callable[[Any], Any]

# Only these columns need converting; the others are stored as the model holds them.
_DECODERS: dict[str, Convert] = {
    "status": _status,
    "failure_code": _failure_code,
    "metadata": _metadata,
    **dict.fromkeys(TIMESTAMPS, _time),
}
_CONVERSIONS = tuple(
    (index, _DECODERS[name]) for index, name in enumerate(UPLOAD_COLUMNS) if name in _DECODERS
)
"""Per column to convert: its position in :data:`UPLOAD_COLUMNS` and its decoder."""


class Row(Protocol):
    """A row whose columns are read by name: sqlite3's, asyncpg's or SQLAlchemy's."""

    def __getitem__(self, name: str, /) -> Any:
        """The value of the column ``name``."""
        ...


def decode_upload(row: Row) -> MediaUpload:
    """The upload of one row (a driver's record or a SQLAlchemy row mapping), by column name."""
    return decode_columns([row[name] for name in UPLOAD_COLUMNS])


def decode_columns(values: Iterable[Any]) -> MediaUpload:
    """The upload of the values of :data:`UPLOAD_COLUMNS`, in that order: a row of the hot
    statements, which select exactly those columns (a plain tuple: rows by name cost sqlite3 a
    search through the columns for each one)."""
    fields = list(values)
    if len(fields) != len(UPLOAD_COLUMNS):
        raise ValueError(f"an upload has {len(UPLOAD_COLUMNS)} columns, got {len(fields)}")
    for index, convert in _CONVERSIONS:
        value = fields[index]
        if value is not None:
            fields[index] = convert(value)
    return MediaUpload(*fields)


@attrs.frozen
class UploadEncoder:
    """An upload as one engine's driver takes its columns: a dict by column name.

    Enums go as their values and metadata as compact JSON text, on both engines (the asyncpg
    connections give jsonb a text codec, as SQLAlchemy's dialect does); times go as they are,
    or as SQLite's text with ``times_as_text``.
    """

    times_as_text: bool
    _encoders: tuple[tuple[str, Convert], ...] = attrs.field(init=False)

    @_encoders.default
    def _build(self) -> tuple[tuple[str, Convert], ...]:
        encoders: list[tuple[str, Convert]] = [
            ("status", _value),
            ("failure_code", _value),
            ("metadata", _metadata_text),
        ]
        if self.times_as_text:
            encoders += [(name, sqlite_time) for name in TIMESTAMPS]
        return tuple(encoders)

    def encode(self, upload: MediaUpload) -> dict[str, Any]:
        """The row of ``upload``; ``ValueError`` on a naive timestamp (its instant is unknown)."""
        require_aware(upload)
        row = dict(zip(UPLOAD_COLUMNS, _upload_values(upload), strict=True))
        for name, convert in self._encoders:
            value = row[name]
            if value is not None:
                row[name] = convert(value)
        return row

    def time(self, value: datetime) -> Any:
        """A time as this engine's driver takes it."""
        return sqlite_time(value) if self.times_as_text else value


def _value(member: UploadStatus | FailureCode) -> Any:
    return member.value
