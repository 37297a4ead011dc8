"""Add the reconciler's lease column and the idempotency keys table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """``media_uploads.reconcile_after`` (nullable) and ``idempotency_keys``."""
    with op.batch_alter_table("media_uploads") as batch:
        batch.add_column(sa.Column("reconcile_after", sa.DateTime(timezone=True)))
    op.create_table(
        "idempotency_keys",
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("upload_id", sa.String(255), nullable=False),
        sa.Column("ticket", _json),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    """Drop both (idempotency keys are only a retry window; leases only a schedule)."""
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("media_uploads") as batch:
        batch.drop_column("reconcile_after")
