"""Add the local provider's processing jobs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    """``local_jobs``, with an index for the workers' claim (state, then age)."""
    op.create_table(
        "local_jobs",
        sa.Column("upload_id", sa.String(255), nullable=False),
        sa.Column("playback_id", sa.String(255), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(255)),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("duration", sa.Double),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
        sa.Column("failure_code", sa.String(32)),
        sa.Column("failure_reason", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("upload_id", name="pk_local_jobs"),
    )
    op.create_index("ix_local_jobs_state_created_at", "local_jobs", ["state", "created_at"])


def downgrade() -> None:
    """Drop the jobs (queued work is lost; the uploads stay, and the reconciler fails them)."""
    op.drop_table("local_jobs")
