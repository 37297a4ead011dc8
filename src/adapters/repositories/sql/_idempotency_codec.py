"""Idempotency records to rows and back: the ``ticket`` JSON of ``idempotency_keys`` by name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from adapters.repositories.sql._codec import Row
from media_core.model import UploadProtocol
from media_core.ports import DirectUploadTicket, IdempotencyRecord


def ticket_json(ticket: DirectUploadTicket) -> dict[str, Any]:
    """A provider's upload slot as the ``ticket`` JSON of ``idempotency_keys``: its fields by
    camelCase name, the protocol as its value and the expiry as ISO 8601 in UTC."""
    data: dict[str, Any] = {}
    for field in attrs.fields(DirectUploadTicket):
        value = getattr(ticket, field.name)
        if isinstance(value, UploadProtocol):
            value = value.value
        elif isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif isinstance(value, Mapping):
            value = dict(value)
        data[_camel(field.name)] = value
    return data


def _ticket(data: Mapping[str, Any]) -> DirectUploadTicket:
    fields: dict[str, Any] = {
        field.name: data.get(_camel(field.name)) for field in attrs.fields(DirectUploadTicket)
    }
    fields["protocol"] = UploadProtocol(fields["protocol"])
    fields["expires_at"] = datetime.fromisoformat(fields["expires_at"])
    fields["headers"] = dict(fields["headers"] or {})
    return DirectUploadTicket(**fields)


def decode_idempotency_record(row: Row) -> IdempotencyRecord:
    """The record of one ``idempotency_keys`` row, by column name."""
    fields = {field.name: row[field.name] for field in attrs.fields(IdempotencyRecord)}
    if fields["ticket"] is not None:
        fields["ticket"] = _ticket(fields["ticket"])
    return IdempotencyRecord(**fields)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)
