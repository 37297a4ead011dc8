"""Create media_uploads and webhook_deliveries.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = ("media_core",)
depends_on: str | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create both tables, their unique keys and the indexes for listing and the reconciler."""
    op.create_table(
        "media_uploads",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("provider_upload_id", sa.String(255)),
        sa.Column("provider_asset_id", sa.String(255)),
        sa.Column("playback_id", sa.String(255)),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("file_size", sa.BigInteger, nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("metadata", _json, nullable=False),
        sa.Column("duration", sa.Double),
        sa.Column("thumbnail_url", sa.Text),
        sa.Column("aspect_ratio", sa.String(32)),
        sa.Column("failure_code", sa.String(32)),
        sa.Column("failure_reason", sa.Text),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        _timestamp("upload_expires_at"),
        _timestamp("uploaded_at"),
        _timestamp("ready_at"),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_media_uploads"),
        sa.UniqueConstraint("playback_id", name="uq_media_uploads_playback_id"),
        sa.UniqueConstraint(
            "provider", "provider_upload_id", name="uq_media_uploads_provider_provider_upload_id"
        ),
    )
    op.create_index(
        "ix_media_uploads_owner_listing",
        "media_uploads",
        ["owner_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index("ix_media_uploads_status_updated_at", "media_uploads", ["status", "updated_at"])
    op.create_index(
        "ix_media_uploads_provider_provider_asset_id",
        "media_uploads",
        ["provider", "provider_asset_id"],
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("delivery_id", sa.String(255), nullable=False),
        _timestamp("received_at", nullable=False),
        sa.PrimaryKeyConstraint("provider", "delivery_id", name="pk_webhook_deliveries"),
    )
    op.create_index("ix_webhook_deliveries_received_at", "webhook_deliveries", ["received_at"])


def downgrade() -> None:
    """Drop both tables (and with them every upload record: export first)."""
    op.drop_table("webhook_deliveries")
    op.drop_table("media_uploads")
