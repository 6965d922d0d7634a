"""The platform mirror: products, variants, inventory, customers, orders, metafields, selling plans,
webhook deliveries; per-variant offer overrides.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def shop_id(primary_key: bool = True) -> sa.Column[str]:
    fk = sa.ForeignKey("shops.id", ondelete="CASCADE")
    return sa.Column("shop_id", sa.String(36), fk, primary_key=primary_key, nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("offer_variants") as batch:
        batch.add_column(sa.Column("max_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("shipping_text", sa.String(500), nullable=True))
    op.create_table(
        "products",
        shop_id(),
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("handle", sa.String(255), nullable=True),
        sa.Column("vendor", sa.String(255), nullable=True),
        sa.Column("product_type", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("collection_ids", JSON, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("deleted_at", TIME, nullable=True),
    )
    op.create_table(
        "variants",
        shop_id(),
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("sku", sa.String(255), nullable=True),
        sa.Column("price", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("inventory_item_id", sa.BigInteger(), nullable=True),
        sa.Column("inventory_quantity", sa.Integer(), nullable=False),
        sa.Column("inventory_policy", sa.String(16), nullable=False),
        sa.Column("preorder_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("deleted_at", TIME, nullable=True),
    )
    op.create_index("ix_variants_shop_product", "variants", ["shop_id", "product_id"])
    op.create_index("ix_variants_shop_inventory_item", "variants", ["shop_id", "inventory_item_id"])
    op.create_table(
        "inventory_levels",
        shop_id(),
        sa.Column("inventory_item_id", sa.BigInteger(), primary_key=True),
        sa.Column("location_id", sa.BigInteger(), primary_key=True),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.String(36), primary_key=True),
        shop_id(primary_key=False),
        sa.Column("platform_customer_id", sa.BigInteger(), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("first_name", sa.String(255), nullable=True),
        sa.Column("last_name", sa.String(255), nullable=True),
        sa.Column("phone", sa.String(64), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("redacted_at", TIME, nullable=True),
        sa.UniqueConstraint("shop_id", "platform_customer_id", name="uq_customers_shop_platform_id"),
    )
    op.create_index("ix_customers_shop_email", "customers", ["shop_id", "email"])
    op.create_table(
        "orders",
        shop_id(),
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("customer_id", sa.String(36), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("financial_status", sa.String(32), nullable=True),
        sa.Column("fulfillment_status", sa.String(32), nullable=True),
        sa.Column("total_price", sa.String(32), nullable=False),
        sa.Column("total_outstanding", sa.String(32), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("placed_at", TIME, nullable=False),
        sa.Column("cancelled_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("ix_orders_shop_placed", "orders", ["shop_id", "placed_at"])
    op.create_index("ix_orders_shop_customer", "orders", ["shop_id", "customer_id"])
    op.create_table(
        "order_lines",
        shop_id(),
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("variant_id", sa.BigInteger(), nullable=True),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column("offer_id", sa.String(36), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price", sa.String(32), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("variant_title", sa.String(255), nullable=True),
        sa.Column("sku", sa.String(255), nullable=True),
    )
    op.create_index("ix_order_lines_shop_order", "order_lines", ["shop_id", "order_id"])
    op.create_index("ix_order_lines_shop_variant", "order_lines", ["shop_id", "variant_id"])
    op.create_table(
        "platform_metafields",
        shop_id(),
        sa.Column("owner_type", sa.String(16), primary_key=True),
        sa.Column("owner_id", sa.BigInteger(), primary_key=True),
        sa.Column("namespace", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "platform_selling_plan_groups",
        shop_id(),
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("selling_plan_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("variant_ids", JSON, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        shop_id(),
        sa.Column("webhook_id", sa.String(128), primary_key=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "webhook_deliveries",
        "platform_selling_plan_groups",
        "platform_metafields",
        "order_lines",
        "orders",
        "customers",
        "inventory_levels",
        "variants",
        "products",
    ):
        op.drop_table(table)
    with op.batch_alter_table("offer_variants") as batch:
        batch.drop_column("shipping_text")
        batch.drop_column("max_count")
