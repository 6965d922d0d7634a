"""The tables. Every table carries ``shop_id`` and every index leads with it (shard-by-shop ready)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
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

    __table_args__ = (
        Index("ix_offers_shop_created", "shop_id", "created_at"),
        Index("ix_offers_shop_status", "shop_id", "status"),
    )


class OfferVariant(Base):
    """A platform variant attached to an offer (the products capability fills this)."""

    __tablename__ = "offer_variants"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    variant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
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
