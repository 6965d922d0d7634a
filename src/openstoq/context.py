"""What a handler gets: the shop it acts for, one open transaction, the clock and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from openstoq.clock import Clock
from openstoq.settings import Settings


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the shop a key belongs to, and what the key may do."""

    shop_id: str
    domain: str
    key_id: str
    read_only: bool


@dataclass(frozen=True, slots=True)
class ActionContext:
    shop_id: str
    domain: str
    session: AsyncSession
    clock: Clock
    settings: Settings
    source: Literal["api", "mcp", "cli", "scheduler", "webhook"] = "api"
