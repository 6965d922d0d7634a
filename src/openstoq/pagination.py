"""Page and per_page, and the published ``meta`` block (one model for every list)."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from openstoq.validation import RequestModel

MAX_PER_PAGE = 200


class PageQuery(RequestModel):
    page: int = Field(1, ge=1, le=1_000_000, description="Page number, from 1")
    per_page: int = Field(25, ge=1, le=MAX_PER_PAGE, description=f"Items per page, at most {MAX_PER_PAGE}")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


class Meta(BaseModel):
    """The published paging block of every list."""

    total_count: int
    page: int
    per_page: int
    total_pages: int


def page_meta(query: PageQuery, total: int) -> dict[str, int]:
    return Meta(
        total_count=total,
        page=query.page,
        per_page=query.per_page,
        total_pages=math.ceil(total / query.per_page) if total else 0,
    ).model_dump()
