"""Shops and their API keys: creation, listing, revocation, and turning a key into a principal."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from openstoq.context import Principal
from openstoq.db.engine import Database
from openstoq.db.models import ApiKey, Shop

KEY_PREFIX = "stoq_api_key_"
KEY_PATTERN = re.compile(r"^stoq_api_key_[0-9a-f]{32}$")
DOMAIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
PLATFORMS = ("local", "shopify")


class ShopError(ValueError):
    """A shop or key request that cannot be carried out; the message says why and what to do."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: str
    shop_id: str
    api_key: str  # shown once, never stored
    read_only: bool


def normalise_domain(domain: str) -> str:
    domain = domain.strip().lower()
    if "." not in domain:
        domain += ".myshopify.com"
    if not DOMAIN_PATTERN.match(domain):
        raise ShopError(f"{domain!r} is not a shop domain; use name.myshopify.com (letters, digits, dashes)")
    return domain


async def create_shop(session: AsyncSession, domain: str, now: datetime, platform: str = "local") -> Shop:
    domain = normalise_domain(domain)
    if platform not in PLATFORMS:
        raise ShopError(f"platform must be one of: {', '.join(PLATFORMS)}")
    if await find_shop(session, domain):
        raise ShopError(f"shop {domain} already exists; use `openstoq keys create --shop {domain}` for a new key")
    shop = Shop(
        id=str(uuid.uuid4()),
        domain=domain,
        platform=platform,
        webhook_secret=secrets.token_hex(32),
        currency="USD",
        created_at=now,
    )
    session.add(shop)
    await session.flush()
    return shop


async def find_shop(session: AsyncSession, domain: str) -> Shop | None:
    return await session.scalar(select(Shop).where(Shop.domain == domain.strip().lower()))


async def get_shop(session: AsyncSession, domain: str) -> Shop:
    shop = await find_shop(session, domain)
    if shop is None:
        raise ShopError(f"no shop {domain}; create it with `openstoq shops create {domain}`")
    return shop


async def create_key(session: AsyncSession, shop: Shop, now: datetime, *, read_only: bool = False) -> IssuedKey:
    key = new_key()
    row = ApiKey(
        id=str(uuid.uuid4()),
        shop_id=shop.id,
        key_hash=hash_key(key),
        hint=key[-4:],
        read_only=read_only,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return IssuedKey(row.id, shop.id, key, read_only)


async def list_keys(session: AsyncSession, shop: Shop) -> list[ApiKey]:
    rows = await session.scalars(select(ApiKey).where(ApiKey.shop_id == shop.id).order_by(ApiKey.created_at))
    return list(rows)


async def revoke_key(session: AsyncSession, shop: Shop, key_or_id: str, now: datetime) -> ApiKey:
    """Revoke by key id or by the key itself; revoking twice is harmless."""
    condition = ApiKey.key_hash == hash_key(key_or_id) if key_or_id.startswith(KEY_PREFIX) else ApiKey.id == key_or_id
    row = await session.scalar(select(ApiKey).where(ApiKey.shop_id == shop.id, condition))
    if row is None:
        raise ShopError(f"shop {shop.domain} has no key {key_or_id}; see `openstoq keys list --shop {shop.domain}`")
    if row.revoked_at is None:
        row.revoked_at = now
    return row


# Built once: constructing the statement per request costs more than running it.
_PRINCIPAL = (
    select(ApiKey.id.label("key_id"), ApiKey.key_hash, ApiKey.read_only, Shop.id.label("shop_id"), Shop.domain)
    .join(Shop, Shop.id == ApiKey.shop_id)
    .where(ApiKey.key_hash == bindparam("digest"), ApiKey.revoked_at.is_(None))
)


async def _lookup(db: Database, digest: str) -> Principal | None:
    row = await db.first(_PRINCIPAL, {"digest": digest})
    # The index lookup finds the row; the constant-time compare is what decides.
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return Principal(shop_id=row.shop_id, domain=row.domain, key_id=row.key_id, read_only=row.read_only)


class KeyCache:
    """The principals of keys seen lately, kept only while nothing has been written.

    Every request authenticates; on SQLite the lookup is skipped while ``Database.write_marker``
    is unchanged, and any committed write transaction, in any process (``keys revoke`` from the
    CLI too), changes it: the next request looks its key up again, so a revoked key is refused
    as soon as its revocation has committed. Without a marker (PostgreSQL) every request looks
    its key up. Unknown keys are never kept.
    """

    MAX_KEYS = 10_000  # a bound on memory, not a tuning knob: a shop uses a handful of keys

    def __init__(self, db: Database) -> None:
        self.db = db
        self._principals: dict[str, Principal] = {}
        self._marker: bytes | None = None

    async def authenticate(self, token: str | None) -> Principal | None:
        """The principal for a presented key, or None when it is missing, malformed, unknown or revoked."""
        if not token or not KEY_PATTERN.match(token):
            return None
        digest = hash_key(token)
        marker = self.db.write_marker()  # read before the lookup, so a write during it is seen next time
        if marker is None or marker != self._marker:
            self._principals.clear()
            self._marker = marker
        elif (known := self._principals.get(digest)) is not None:
            return known
        principal = await _lookup(self.db, digest)
        if principal is not None and marker is not None:
            if len(self._principals) >= self.MAX_KEYS:
                self._principals.clear()
            self._principals[digest] = principal
        return principal
