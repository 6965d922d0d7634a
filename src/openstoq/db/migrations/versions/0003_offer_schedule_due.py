"""Offers: ``schedule_due_at``, when the scheduler must next flip a scheduled offer.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offers") as batch:
        batch.add_column(sa.Column("schedule_due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_offers_schedule_due", "offers", ["schedule_due_at"])
    # No scheduler ran before this revision: its first pass catches up every existing schedule.
    op.execute("UPDATE offers SET schedule_due_at = COALESCE(starts_at, ends_at) WHERE status = 'scheduled'")


def downgrade() -> None:
    op.drop_index("ix_offers_schedule_due", table_name="offers")
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("schedule_due_at")
