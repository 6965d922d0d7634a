"""``openstoq webhooks send`` and ``openstoq import catalog``: the platform's data in, by hand.

``webhooks send`` signs a file exactly as Shopify would and posts it to a running server, so a
payload can be replayed or tried out; ``import catalog`` loads a product export straight into the
database without a server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from openstoq.cli.common import console, fail, run
from openstoq.inbound.catalog_import import CatalogFileError, ImportTotals, batches, import_batch, load_catalog
from openstoq.inbound.webhooks import PATH, headers_for
from openstoq.runtime import Runtime
from openstoq.shops import get_shop

webhooks_app = typer.Typer(help="Send Shopify-format webhooks to a running server.", no_args_is_help=True)
import_app = typer.Typer(help="Load platform data straight into the database.", no_args_is_help=True)

ShopDomain = Annotated[str, typer.Option("--shop", help="The shop's domain, e.g. demo.myshopify.com")]


def webhook_url(url: str) -> str:
    """The webhook endpoint under ``url`` (a server's base URL, or the endpoint itself)."""
    url = url.rstrip("/")
    return url if url.endswith(PATH) else url + PATH


@webhooks_app.command("send")
def send(
    topic: Annotated[str, typer.Argument(help="The webhook topic, e.g. orders/create")],
    file: Annotated[Path, typer.Argument(help="The JSON payload, sent byte for byte", exists=True, dir_okay=False)],
    shop: ShopDomain,
    url: Annotated[str, typer.Option(help="The server's base URL")] = "http://127.0.0.1:8000",
    webhook_id: Annotated[
        str | None, typer.Option("--webhook-id", help="X-Shopify-Webhook-Id; default: a fresh one")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer")] = 30.0,
) -> None:
    """Sign FILE with the shop's webhook secret and POST it as Shopify would; exit 1 on a non-2xx answer."""
    body = file.read_bytes()

    async def secret(runtime: Runtime) -> tuple[str, str]:
        async with runtime.db.transaction(write=False) as session:
            found = await get_shop(session, shop)
            return found.domain, found.webhook_secret

    domain, key = run(secret)
    delivery = webhook_id or str(uuid.uuid4())
    try:
        response = httpx.post(
            webhook_url(url), content=body, headers=headers_for(topic, domain, delivery, key, body), timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise fail(f"could not reach {webhook_url(url)}: {exc}. Is `openstoq serve` running there?") from None
    print(f"HTTP {response.status_code} (webhook id {delivery})")
    print(response.text)
    if not response.is_success:
        raise typer.Exit(1)


@import_app.command("catalog")
def catalog(
    file: Annotated[Path, typer.Argument(help='JSON: a list of Shopify product objects, or {"products": [...]}')],
    shop: ShopDomain,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Products per transaction")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the totals as JSON")] = False,
) -> None:
    """Load products and their variants into the shop's catalog mirror, in batches (one transaction each).

    Offers whose source covers new variants take them, as when the same products arrive by webhook."""
    try:
        products = load_catalog(file)
    except CatalogFileError as exc:
        raise fail(str(exc)) from None

    async def work(runtime: Runtime) -> ImportTotals:
        totals = ImportTotals()
        async with runtime.db.transaction(write=False) as session:
            found = await get_shop(session, shop)
        columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TextColumn("products"))
        with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("import", total=len(products))
            for batch in batches(products, batch_size):
                async with runtime.shop_transaction(found.id, source="cli", domain=found.domain) as ctx:
                    totals.add(await import_batch(ctx, batch))
                progress.advance(task, len(batch))
                await asyncio.sleep(0)
        return totals

    totals = run(work)
    if as_json:
        print(json.dumps(totals.as_dict()))
        return
    console.print(
        f"imported {totals.products_created + totals.products_updated} products "
        f"({totals.products_created} created, {totals.products_updated} updated) and "
        f"{totals.variants_created + totals.variants_updated} variants "
        f"({totals.variants_created} created, {totals.variants_updated} updated) into {shop}"
    )
