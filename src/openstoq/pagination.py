"""Page and per_page, and the published ``meta`` block."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from openstoq.validation import RequestModel

MAX_PER_PAGE = 200


class PageQuery(RequestModel):
    page: int = Field(1, ge=1, le=1_000_000, description="Page number, from 1")
    per_page: int = Field(25, ge=1, le=MAX_PER_PAGE, description=f"Items per page, at most {MAX_PER_PAGE}")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_meta(query: PageQuery, total: int) -> dict[str, Any]:
    return {
        "total_count": total,
        "page": query.page,
        "per_page": query.per_page,
        "total_pages": math.ceil(total / query.per_page) if total else 0,
    }
