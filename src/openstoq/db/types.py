"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in, timezone-aware UTC datetimes out (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON documents: JSONB on PostgreSQL, JSON text on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


def utc_iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, in UTC, as every response prints times."""
    if value is None:
        return None
    # Times read from the database are UTC already (UTCDateTime): no conversion to pay for.
    return (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat()


# A SELECT of any columns: SQLAlchemy types a Select by the tuple of what it selects.
AnySelect = Select[*tuple[Any, ...]]
