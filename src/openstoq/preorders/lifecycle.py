"""When an offer is live, and when its schedule must next flip it: pure rules on an offer's fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class OfferFields(Protocol):
    """An offer as it is read and shown: the ORM object, or a row of its columns (``service.read_row``)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def internal_name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def starts_at(self) -> datetime | None: ...
    @property
    def ends_at(self) -> datetime | None: ...
    @property
    def capabilities(self) -> dict[str, Any]: ...
    @property
    def shopify_selling_plan_group_id(self) -> int | None: ...
    @property
    def shopify_selling_plan_id(self) -> int | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def discarded_at(self) -> datetime | None: ...


class Scheduled(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def starts_at(self) -> datetime | None: ...
    @property
    def ends_at(self) -> datetime | None: ...


def is_live(offer: Scheduled, now: datetime) -> bool:
    """Live means shoppers can preorder now: enabled, or scheduled and inside its window."""
    if offer.status == "enabled":
        return True
    if offer.status != "scheduled":
        return False
    return (offer.starts_at is None or offer.starts_at <= now) and (offer.ends_at is None or now < offer.ends_at)


def next_flip(offer: Scheduled, after: datetime) -> datetime | None:
    """The offer's first schedule time later than ``after``: when it must next flip (None: never)."""
    if offer.status != "scheduled":
        return None
    return min((t for t in (offer.starts_at, offer.ends_at) if t is not None and t > after), default=None)


def due_flips(offer: Scheduled, due: datetime | None, now: datetime) -> list[tuple[str, datetime]]:
    """The flips due by ``now`` since ``due`` (the offer's next schedule time not yet applied), oldest
    first: both when a downtime spanned the whole window."""
    if offer.status != "scheduled" or due is None or due > now:
        return []
    flips = (("went_live", offer.starts_at), ("ended", offer.ends_at))
    return [(action, at) for action, at in flips if at is not None and due <= at <= now]
