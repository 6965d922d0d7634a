"""The tables. Every table carries ``shop_id`` and every index leads with it (shard-by-shop ready)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from openstoq.db.types import JSONDoc, UTCDateTime

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
AutoId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    platform: Mapped[str] = mapped_column(String(16), default="local")
    webhook_secret: Mapped[str] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def shop_id(self) -> str:
        return self.id


class ApiKey(Base):
    """A shop's API key, stored only as its SHA-256 hash."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The last four characters, so an operator can tell keys apart in `keys list`.
    hint: Mapped[str] = mapped_column(String(8))
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_api_keys_shop", "shop_id", "created_at"),)


class Offer(Base):
    """A preorder selling plan. Capability blocks live in ``capabilities`` (one JSON document)."""

    __tablename__ = "offers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    internal_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="disabled")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    shopify_selling_plan_group_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shopify_selling_plan_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    discarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the scheduler must next flip the offer (its next schedule time not yet applied); None: never.
    schedule_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_offers_shop_created", "shop_id", "created_at"),
        Index("ix_offers_shop_status", "shop_id", "status"),
        # The scheduler scans every shop for due offers: the one index not led by shop_id.
        Index("ix_offers_schedule_due", "schedule_due_at"),
    )


class OfferVariant(Base):
    """A platform variant attached to an offer (the products capability fills this)."""

    __tablename__ = "offer_variants"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    variant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Per-variant overrides of the offer's defaults.
    max_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shipping_text: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_offer_variants_shop_variant", "shop_id", "variant_id"),)


class OfferEvent(Base):
    """One entry of an offer's history: every transition and every change."""

    __tablename__ = "offer_events"

    # A sequence, not a UUID: history reads in the order things happened, ties included.
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_offer_events_shop_offer", "shop_id", "offer_id", "id"),)


# --- the platform mirror: catalog, inventory, customers, orders (what the shop's platform holds) ---


class Product(Base):
    __tablename__ = "products"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the platform's product id
    title: Mapped[str] = mapped_column(String(255))
    handle: Mapped[str | None] = mapped_column(String(255), nullable=True)
    vendor: Mapped[str | None] = mapped_column(String(255), nullable=True)
    product_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    collection_ids: Mapped[list[int]] = mapped_column(JSONDoc, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Variant(Base):
    """A platform variant, with the preorder count openstoq keeps for it."""

    __tablename__ = "variants"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the platform's variant id
    product_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(255))
    sku: Mapped[str | None] = mapped_column(String(255), nullable=True)
    price: Mapped[str] = mapped_column(String(32), default="0.00")  # decimal string, shop currency
    position: Mapped[int] = mapped_column(Integer, default=1)
    inventory_item_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    inventory_quantity: Mapped[int] = mapped_column(BigInteger, default=0)  # sum over locations
    inventory_policy: Mapped[str] = mapped_column(String(16), default="deny")  # deny | continue
    preorder_count: Mapped[int] = mapped_column(BigInteger, default=0)  # units on open preorder lines
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_variants_shop_product", "shop_id", "product_id"),
        Index("ix_variants_shop_inventory_item", "shop_id", "inventory_item_id"),
    )


class InventoryLevel(Base):
    __tablename__ = "inventory_levels"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    inventory_item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    location_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    available: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform_customer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    last_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("shop_id", "platform_customer_id", name="uq_customers_shop_platform_id"),
        Index("ix_customers_shop_email", "shop_id", "email"),
    )


class Order(Base):
    """A platform order with at least one preorder line (other orders are not kept)."""

    __tablename__ = "orders"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the platform's order id
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    customer_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    financial_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    fulfillment_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    total_price: Mapped[str] = mapped_column(String(32))
    total_outstanding: Mapped[str] = mapped_column(String(32), default="0.00")
    tags: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_orders_shop_placed", "shop_id", "placed_at"),
        Index("ix_orders_shop_customer", "shop_id", "customer_id"),
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the platform's line item id
    order_id: Mapped[int] = mapped_column(BigInteger)
    variant_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    product_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    offer_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # set on preorder lines
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(255))
    variant_title: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sku: Mapped[str | None] = mapped_column(String(255), nullable=True)

    __table_args__ = (
        Index("ix_order_lines_shop_order", "shop_id", "order_id"),
        Index("ix_order_lines_shop_variant", "shop_id", "variant_id"),
    )


class Metafield(Base):
    """A metafield as the platform holds it (on ``local``, openstoq is the platform)."""

    __tablename__ = "platform_metafields"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(16), primary_key=True)  # shop | variant
    owner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # 0 for the shop
    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SellingPlanGroup(Base):
    """A selling plan group as the platform holds it: one per offer, with its member variants."""

    __tablename__ = "platform_selling_plan_groups"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    selling_plan_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(255))
    variant_ids: Mapped[list[int]] = mapped_column(JSONDoc, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """A webhook already accepted: a repeated ``X-Shopify-Webhook-Id`` is acknowledged and ignored."""

    __tablename__ = "webhook_deliveries"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- jobs: what clients poll, and the done-markers that make every batch exactly-once ---


class Job(Base):
    """A bulk action or an export: its progress, per-item errors and result (DBOS runs it, this reports it)."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)  # published form: bulk_<action>_<hex>, exp_<hex>
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # running | completed | ready | failed | cancelled
    source: Mapped[str] = mapped_column(String(16))  # the face that asked for it: api, mcp, cli
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)  # only ever grows
    failed: Mapped[int] = mapped_column(Integer, default=0)
    batch_size: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)  # capped; `failed` counts them all
    params: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)  # the request, as sent
    items: Mapped[list[Any] | None] = mapped_column(JSONDoc, nullable=True)  # resolved at submit: what batches split
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # its batches are enqueued
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # 404 (and deleted) after

    __table_args__ = (
        Index("ix_jobs_shop_created", "shop_id", "created_at"),
        # The workers' sweeps scan every shop: undispatched running jobs, and expired ones.
        Index("ix_jobs_status", "status"),
        Index("ix_jobs_expires", "expires_at"),
    )


class JobBatch(Base):
    """A batch done: written in the transaction that applied it, so a batch whose marker exists is skipped."""

    __tablename__ = "job_batches"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    batch_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    items: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    executor_id: Mapped[str] = mapped_column(String(128))  # the DBOS executor that ran it
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JobExecutor(Base):
    """A live DBOS executor (a worker process) and its heartbeat; silent ones get their work recovered.

    Not shop data, so no ``shop_id``: the one table that describes the deployment, not a shop.
    """

    __tablename__ = "job_executors"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # serve | worker
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- the outbox: side effects decided by a transaction, delivered after it commits ---


class OutboxEntry(Base):
    """A command waiting for delivery (``openstoq.outbox``); deleted once delivered."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    available_at: Mapped[datetime] = mapped_column(UTCDateTime())  # not delivered by the drain before this
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed deliveries so far
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)  # who holds the lease
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_outbox_shop", "shop_id", "id"),
        # The drain scans every shop for due rows: like the jobs sweeps, not led by shop_id.
        Index("ix_outbox_available", "available_at"),
        Index("ix_outbox_lease", "lease_token"),
    )


# --- emails: what openstoq sends to customers and merchants, recorded before it is sent ---


class Email(Base):
    """One email: rendered when it is decided (so the record is what was sent), sent after commit."""

    __tablename__ = "emails"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))  # e.g. payment_collection, order_cancelled
    # The decision's own key (e.g. payment_collection:<order id>:<n>): deciding the same email twice sends it once.
    key: Mapped[str] = mapped_column(String(200))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # queued | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_id: Mapped[str] = mapped_column(String(255))  # stable across retries: receivers can drop a resend
    order_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the order it is about, if any
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("shop_id", "key", name="uq_emails_shop_key"),
        Index("ix_emails_shop_created", "shop_id", "created_at"),
        Index("ix_emails_shop_order", "shop_id", "order_id"),
    )
