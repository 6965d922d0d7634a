"""The outbox (side effects delivered after commit), and 64-bit counters on variants.

A variant's preorder count and its inventory sum add up many 32-bit quantities: on PostgreSQL an
INTEGER refused the order that took them past 2,147,483,647, while SQLite's integers went on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("shop_id", sa.String(36), sa.ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("available_at", TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("lease_token", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_outbox_shop", "outbox", ["shop_id", "id"])
    op.create_index("ix_outbox_available", "outbox", ["available_at"])
    op.create_index("ix_outbox_lease", "outbox", ["lease_token"])
    with op.batch_alter_table("variants") as batch:
        batch.alter_column("preorder_count", type_=sa.BigInteger(), existing_type=sa.Integer())
        batch.alter_column("inventory_quantity", type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    with op.batch_alter_table("variants") as batch:
        batch.alter_column("inventory_quantity", type_=sa.Integer(), existing_type=sa.BigInteger())
        batch.alter_column("preorder_count", type_=sa.Integer(), existing_type=sa.BigInteger())
    op.drop_table("outbox")
