"""The tables, as SQLAlchemy Core: one ``MetaData`` a host application can reuse."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names are deterministic, so migrations can refer to them on every database."""

VERSION_TABLE = "media_core_alembic_version"
"""Where our migrations record their revision; distinct from a host's ``alembic_version``."""


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware datetime stored as UTC and read back aware, on PostgreSQL and SQLite alike.

    PostgreSQL keeps ``timestamptz``; SQLite keeps text without an offset, so values are
    converted to UTC before they are written and marked UTC when they are read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Convert to UTC; refuse naive values, whose instant is unknown."""
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JsonDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
"""JSON everywhere, JSONB on PostgreSQL (indexable by a host that wants to query metadata)."""

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
"""Every table of media-core; pass it to a host's Alembic ``target_metadata`` (see the package)."""

media_uploads = sa.Table(
    "media_uploads",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("owner_id", sa.String(255), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("provider_upload_id", sa.String(255)),
    sa.Column("provider_asset_id", sa.String(255)),
    sa.Column("playback_id", sa.String(255), unique=True),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("file_size", sa.BigInteger, nullable=False),
    sa.Column("mime_type", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.Integer, nullable=False),
    sa.Column("metadata", JsonDocument, nullable=False),
    sa.Column("duration", sa.Double),
    sa.Column("thumbnail_url", sa.Text),
    sa.Column("aspect_ratio", sa.String(32)),
    sa.Column("failure_code", sa.String(32)),
    sa.Column("failure_reason", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("upload_expires_at", UtcDateTime),
    sa.Column("uploaded_at", UtcDateTime),
    sa.Column("ready_at", UtcDateTime),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("reconcile_after", UtcDateTime),
    sa.UniqueConstraint("provider", "provider_upload_id"),
)
"""One row per ``MediaUpload``; enums are stored as their values, metadata as a JSON object.

``reconcile_after`` is the reconciler's lease, not part of the model: a row claimed by one
instance is skipped by every other claimer until then (and checked again no sooner).
"""

sa.Index(
    "ix_media_uploads_owner_listing",
    media_uploads.c.owner_id,
    media_uploads.c.created_at.desc(),
    media_uploads.c.id.desc(),
)
# Also serves queries on status alone (the reconciler's scan, counts per status), so no
# separate index on status is kept.
sa.Index(None, media_uploads.c.status, media_uploads.c.updated_at)
sa.Index(None, media_uploads.c.provider, media_uploads.c.provider_asset_id)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("provider", sa.String(64), primary_key=True),
    sa.Column("delivery_id", sa.String(255), primary_key=True),
    sa.Column("received_at", UtcDateTime, nullable=False, index=True),
)
"""Webhook deliveries already applied, unique per provider; pruned after the retry window."""

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("owner_id", sa.String(255), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("upload_id", sa.String(255), nullable=False),
    sa.Column("ticket", JsonDocument),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
)
"""Create requests remembered under their owner's ``Idempotency-Key`` (at least 24 hours).

``ticket`` (the provider's upload slot, as JSON) is null while the first request is under way.
"""

local_jobs = sa.Table(
    "local_jobs",
    metadata,
    sa.Column("upload_id", sa.String(255), primary_key=True),
    sa.Column("playback_id", sa.String(255), nullable=False),
    sa.Column("source", sa.String(1024), nullable=False),
    sa.Column("mime_type", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("worker", sa.String(255)),
    sa.Column("lease_until", UtcDateTime),
    sa.Column("progress", sa.Integer, nullable=False),
    sa.Column("duration", sa.Double),
    sa.Column("stored_bytes", sa.BigInteger, nullable=False),
    sa.Column("failure_code", sa.String(32)),
    sa.Column("failure_reason", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
"""Processing jobs of the ``local`` provider: one per upload, claimed by workers with a lease.

``state`` is ``queued``, ``running`` (by ``worker`` until ``lease_until``), ``done``, ``failed``
or ``cancelled``; a running job whose lease ran out is claimed again by any worker.
"""

sa.Index(None, local_jobs.c.state, local_jobs.c.created_at)
