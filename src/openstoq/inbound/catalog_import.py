"""``openstoq import catalog``: a JSON file of Shopify product objects, straight into the mirror.

The whole file is read and validated before anything is written, so a malformed file imports
nothing; then it is written in batches, one transaction each, through the same path as the
``products/create`` webhook.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import select

from openstoq.context import ActionContext
from openstoq.db.models import Product, Variant
from openstoq.inbound.topics import upsert_catalog
from openstoq.platform.payloads import ProductPayload
from openstoq.validation import messages

MAX_ERRORS = 10  # enough to fix a file in a few rounds without flooding the terminal


class CatalogFileError(ValueError):
    """The file cannot be imported; the message says where and why."""


@dataclass(slots=True)
class ImportTotals:
    products_created: int = 0
    products_updated: int = 0
    variants_created: int = 0
    variants_updated: int = 0

    def add(self, other: ImportTotals) -> None:
        self.products_created += other.products_created
        self.products_updated += other.products_updated
        self.variants_created += other.variants_created
        self.variants_updated += other.variants_updated

    def as_dict(self) -> dict[str, int]:
        return {
            "products_created": self.products_created,
            "products_updated": self.products_updated,
            "variants_created": self.variants_created,
            "variants_updated": self.variants_updated,
        }


def _products(document: Any) -> list[Any]:
    if isinstance(document, dict) and isinstance(document.get("products"), list):
        return list(document["products"])
    if isinstance(document, list):
        return document
    raise CatalogFileError('the file must hold a JSON list of products, or an object {"products": [...]}')


def load_catalog(path: Path) -> list[ProductPayload]:
    """Every product in the file, validated; or a CatalogFileError naming each bad product by index."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CatalogFileError(f"{path} is not valid JSON: {exc}") from None
    parsed: list[ProductPayload] = []
    problems: list[str] = []
    items = _products(document)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"product {index}: must be a JSON object, not {type(item).__name__}")
            continue
        ident = f" (id {item['id']})" if "id" in item else ""
        try:
            parsed.append(ProductPayload.model_validate(item))
        except ValidationError as exc:
            problems.append(f"product {index}{ident}: {'; '.join(messages(exc))}")
    if problems:
        more = f"\n... and {len(problems) - MAX_ERRORS} more" if len(problems) > MAX_ERRORS else ""
        raise CatalogFileError(
            f"{len(problems)} of {len(items)} products are invalid; nothing was imported:\n"
            + "\n".join(problems[:MAX_ERRORS])
            + more
        )
    return parsed


def batches(products: Sequence[ProductPayload], size: int) -> Iterator[Sequence[ProductPayload]]:
    for start in range(0, len(products), size):
        yield products[start : start + size]


async def _known(ctx: ActionContext, model: type[Product] | type[Variant], ids: set[int]) -> set[int]:
    found: set[int] = set()
    ordered = sorted(ids)
    for start in range(0, len(ordered), 5000):  # under every driver's limit on bound parameters
        chunk = ordered[start : start + 5000]
        found |= set(
            await ctx.session.scalars(select(model.id).where(model.shop_id == ctx.shop_id, model.id.in_(chunk)))
        )
    return found


async def import_batch(ctx: ActionContext, products: Sequence[ProductPayload]) -> ImportTotals:
    """Upsert one batch (in the caller's transaction) and count what was new."""
    product_ids = {p.id for p in products}
    variant_ids = {v.id for p in products for v in p.variants}
    known_products = await _known(ctx, Product, product_ids)
    known_variants = await _known(ctx, Variant, variant_ids)
    await upsert_catalog(ctx, list(products))
    return ImportTotals(
        products_created=len(product_ids - known_products),
        products_updated=len(product_ids & known_products),
        variants_created=len(variant_ids - known_variants),
        variants_updated=len(variant_ids & known_variants),
    )
