"""The SQL row codec: built from the schema, by column name, and exact both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import given

from adapters.repositories.sql import media_uploads
from adapters.repositories.sql._codec import (
    UPLOAD_COLUMNS,
    UploadEncoder,
    decode_columns,
    decode_upload,
    upload_columns,
)
from adapters.repositories.sql._idempotency_codec import decode_idempotency_record, ticket_json
from media_core.model import MediaUpload, UploadProtocol
from media_core.ports import DirectUploadTicket, IdempotencyRecord
from tests.strategies import stored_uploads


def test_the_upload_columns_are_the_models_fields_in_field_order() -> None:
    """Every model field has its column; only the reconciler's lease is extra."""
    assert list(UPLOAD_COLUMNS) == [field.name for field in attrs.fields(MediaUpload)]
    assert set(UPLOAD_COLUMNS) == {c.name for c in media_uploads.c} - {"reconcile_after"}


def test_a_row_of_the_wrong_width_is_refused() -> None:
    """Construction by position must not shift a value into the wrong field."""
    with pytest.raises(ValueError, match="columns"):
        decode_columns([None] * (len(UPLOAD_COLUMNS) - 1))


@given(upload=stored_uploads())
def test_an_unknown_status_in_a_row_is_refused(upload: MediaUpload) -> None:
    """The dict lookup of enum members still refuses what the Enum refuses."""
    row = UploadEncoder(times_as_text=True).encode(upload)
    row["status"] = "LOST"
    with pytest.raises(ValueError, match="LOST"):
        decode_upload(row)


@pytest.mark.parametrize("change", ["added column", "missing column"])
def test_a_column_without_its_field_or_a_field_without_its_column_fails(change: str) -> None:
    """A schema that drifts from the model is refused at once, naming the column."""
    columns = [sa.Column(c.name, c.type) for c in media_uploads.c]
    if change == "added column":
        columns.append(sa.Column("colour", sa.String))
        missing = "colour"
    else:
        columns = [c for c in columns if c.name != "duration"]
        missing = "duration"
    with pytest.raises(RuntimeError, match=missing):
        upload_columns(sa.Table("media_uploads", sa.MetaData(), *columns))


@pytest.mark.parametrize("times_as_text", [True, False], ids=["sqlite", "postgres"])
@given(upload=stored_uploads())
def test_any_upload_decodes_from_its_encoded_row_exactly(
    times_as_text: bool, upload: MediaUpload
) -> None:
    """Encoding then decoding gives the same upload, with every time aware."""
    row = UploadEncoder(times_as_text=times_as_text).encode(upload)
    assert set(row) == set(UPLOAD_COLUMNS)
    assert isinstance(row["metadata"], str)
    decoded = decode_upload(row)
    assert decoded == upload
    if times_as_text:
        assert decoded.created_at.tzinfo is UTC


@pytest.mark.parametrize("protocol", list(UploadProtocol))
def test_a_stored_ticket_keeps_its_json_form_and_reads_back_equal(
    protocol: UploadProtocol,
) -> None:
    """Every field, every protocol; the keys are those rows already stored carry."""
    expires = datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    ticket = DirectUploadTicket(
        provider_upload_id="p1",
        url="https://u.example/1",
        protocol=protocol,
        method="PATCH",
        expires_at=expires,
        headers={"Tus-Resumable": "1.0.0"},
        playback_id="pb",
        asset_id="as",
        chunk_size=262144,
    )
    data = ticket_json(ticket)
    assert data == {
        "providerUploadId": "p1",
        "url": "https://u.example/1",
        "protocol": protocol.value,
        "method": "PATCH",
        "expiresAt": "2026-03-01T12:00:00+00:00",
        "headers": {"Tus-Resumable": "1.0.0"},
        "playbackId": "pb",
        "assetId": "as",
        "chunkSize": 262144,
    }
    row = {
        "owner_id": "o",
        "key": "k",
        "fingerprint": "f",
        "upload_id": "u",
        "created_at": expires,
        "ticket": data,
    }
    record = decode_idempotency_record(row)
    assert record == IdempotencyRecord("o", "k", "f", "u", expires, ticket)
    assert decode_idempotency_record(row | {"ticket": None}).ticket is None
