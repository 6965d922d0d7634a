"""Shops, API keys, offers, offer variants and offer history.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def shop_fk() -> sa.ForeignKey:
    return sa.ForeignKey("shops.id", ondelete="CASCADE")


JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "shops",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("domain", sa.String(255), nullable=False, unique=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("webhook_secret", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("shop_id", sa.String(36), shop_fk(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(8), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
    )
    op.create_index("ix_api_keys_shop", "api_keys", ["shop_id", "created_at"])
    op.create_table(
        "offers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("shop_id", sa.String(36), shop_fk(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("internal_name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starts_at", TIME, nullable=True),
        sa.Column("ends_at", TIME, nullable=True),
        sa.Column("capabilities", JSON, nullable=False),
        sa.Column("shopify_selling_plan_group_id", sa.BigInteger(), nullable=True),
        sa.Column("shopify_selling_plan_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("discarded_at", TIME, nullable=True),
    )
    op.create_index("ix_offers_shop_created", "offers", ["shop_id", "created_at"])
    op.create_index("ix_offers_shop_status", "offers", ["shop_id", "status"])
    op.create_table(
        "offer_variants",
        sa.Column("shop_id", sa.String(36), shop_fk(), primary_key=True),
        sa.Column("offer_id", sa.String(36), sa.ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("variant_id", sa.BigInteger(), primary_key=True),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_index("ix_offer_variants_shop_variant", "offer_variants", ["shop_id", "variant_id"])
    op.create_table(
        "offer_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("shop_id", sa.String(36), shop_fk(), nullable=False),
        sa.Column("offer_id", sa.String(36), sa.ForeignKey("offers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=True),
        sa.Column("changes", JSON, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_index("ix_offer_events_shop_offer", "offer_events", ["shop_id", "offer_id", "id"])


def downgrade() -> None:
    for table in ("offer_events", "offer_variants", "offers", "api_keys", "shops"):
        op.drop_table(table)
