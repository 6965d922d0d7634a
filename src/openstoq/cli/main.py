"""The ``openstoq`` command: serve, mcp, shops, keys, db, and the groups of ``jobs`` and ``platform``."""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import socket
import sys
from typing import Annotated

import typer
from rich.table import Table

from openstoq.cli.common import console, fail, migrate, migrated, out, run, where
from openstoq.cli.jobs import jobs_app, worker
from openstoq.cli.platform import import_app, webhooks_app
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH, Settings
from openstoq.shops import create_key, create_shop, find_shop, get_shop, list_keys, revoke_key

app = typer.Typer(help="openstoq: a self-hostable preorder and back-in-stock engine.", no_args_is_help=True)
shops_app = typer.Typer(help="Create shops.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke a shop's API keys.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(shops_app, name="shops")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(import_app, name="import")
app.command("worker")(worker)

DEMO_DOMAIN = "demo.myshopify.com"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = migrated()
    console.print(f"database is up to date ({where(settings)})")


@shops_app.command("create")
def shops_create(
    domain: str,
    platform: Annotated[str, typer.Option(help="local or shopify")] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts")] = False,
) -> None:
    """Create a shop and its first API key (shown once)."""

    async def work(runtime: Runtime) -> dict[str, str]:
        now = runtime.clock.now()
        async with runtime.db.transaction(write=True) as session:
            shop = await create_shop(session, domain, now, platform)
            key = await create_key(session, shop, now)
            return {
                "shop_id": shop.id,
                "domain": shop.domain,
                "api_key": key.api_key,
                "webhook_secret": shop.webhook_secret,
            }

    created = run(work)
    if as_json:
        print(json.dumps(created))
    else:
        console.print(f"created shop [bold]{created['domain']}[/bold] ({created['shop_id']})", soft_wrap=True)
        console.print(f"API key (shown once): [bold]{created['api_key']}[/bold]", soft_wrap=True)
        console.print(f"webhook secret: {created['webhook_secret']}", soft_wrap=True)


ShopOption = Annotated[str, typer.Option("--shop", help="The shop's domain, e.g. demo.myshopify.com")]


@keys_app.command("create")
def keys_create(
    shop: ShopOption,
    read_only: Annotated[bool, typer.Option("--read-only", help="The key may only read")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an API key for a shop (shown once)."""

    async def work(runtime: Runtime) -> dict[str, object]:
        async with runtime.db.transaction(write=True) as session:
            found = await get_shop(session, shop)
            key = await create_key(session, found, runtime.clock.now(), read_only=read_only)
            return {"key_id": key.id, "shop_id": found.id, "api_key": key.api_key, "read_only": key.read_only}

    issued = run(work)
    print(json.dumps(issued) if as_json else issued["api_key"])


@keys_app.command("list")
def keys_list(shop: ShopOption, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List a shop's keys (ids and last four characters; keys themselves are never stored)."""

    async def work(runtime: Runtime) -> list[dict[str, object]]:
        async with runtime.db.transaction(write=False) as session:
            rows = await list_keys(session, await get_shop(session, shop))
            return [
                {
                    "key_id": r.id,
                    "ends_with": r.hint,
                    "read_only": r.read_only,
                    "created_at": r.created_at.isoformat(),
                    "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                }
                for r in rows
            ]

    rows = run(work)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("key id", "ends with", "access", "created", "revoked")
    for r in rows:
        access = "read-only" if r["read_only"] else "read-write"
        table.add_row(str(r["key_id"]), f"…{r['ends_with']}", access, str(r["created_at"]), str(r["revoked_at"] or ""))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(shop: ShopOption, key: Annotated[str, typer.Argument(help="The key id, or the key itself")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""

    async def work(runtime: Runtime) -> str:
        async with runtime.db.transaction(write=True) as session:
            row = await revoke_key(session, await get_shop(session, shop), key, runtime.clock.now())
            return row.id

    console.print(f"revoked key {run(work)}")


def ensure_demo(settings: Settings) -> tuple[str, str]:
    """The demo shop and a key for it, created once; the key is kept in the data directory."""
    key_file = settings.data_dir / "demo_api_key"

    async def work(runtime: Runtime) -> tuple[str, str]:
        now = runtime.clock.now()
        async with runtime.db.transaction(write=True) as session:
            shop = await find_shop(session, DEMO_DOMAIN)
            if shop is not None and key_file.exists():
                return shop.domain, key_file.read_text().strip()
            shop = shop or await create_shop(session, DEMO_DOMAIN, now)
            key = await create_key(session, shop, now)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key_file.write_text(key.api_key + "\n")
        key_file.chmod(0o600)
        return shop.domain, key.api_key

    return run(work, settings)


def seed_demo(settings: Settings, domain: str, key: str) -> None:
    """Fill the demo shop once: catalog, offers and preorder orders (see openstoq.demo)."""
    from openstoq.demo import DemoSeedError, seed

    try:
        asyncio.run(seed(settings, domain, key, console))
    except DemoSeedError as exc:
        raise fail(str(exc)) from None


def check_port(host: str, port: int) -> None:
    """Refuse to start on a port something else listens on, before anything is printed as served."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise fail(
                    f"port {port} on {host} is already in use (another openstoq?). Stop what uses it, or pick "
                    f"another port: openstoq serve --port {port + 1} (make run PORT={port + 1})"
                ) from None
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Create (once) a demo shop and print its key")] = False,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="Serve the API only: enqueue jobs for `openstoq worker` processes")
    ] = False,
) -> None:
    """Run migrations, then serve the API (and its documents) on the embedded default or PostgreSQL.

    Job workers run in the same process unless --no-workers.
    """
    import uvicorn

    from openstoq.app import create_app

    check_port(host, port)
    settings = migrated()
    base = f"http://{host}:{port}{BASE_PATH}"
    if demo:
        domain, key = ensure_demo(settings)
        seed_demo(settings, domain, key)
        # Whole lines, never wrapped: they are meant to be copied.
        console.print(f"demo shop [bold]{domain}[/bold], API key [bold]{key}[/bold]", soft_wrap=True)
        console.print(f"try: curl -s -H 'X-Auth-Token: {key}' {base}/help", soft_wrap=True)
    console.print(
        f"openstoq serving {base} on {where(settings)}" + (", jobs enqueued for workers" if no_workers else ""),
        soft_wrap=True,
    )
    asgi = create_app(settings, jobs="enqueue" if no_workers else "workers")
    # Everything built so far (modules, the registry, the documents) lives as long as the process:
    # keep it out of the garbage collector's full passes, which otherwise stall every request for
    # the ~100 ms a pass over some 200 000 objects takes here.
    gc.freeze()
    uvicorn.run(
        asgi,
        host=host,
        port=port,
        log_level=settings.log_level,
        access_log=False,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
    )


@app.command("mcp")
def mcp_stdio(
    api_key: Annotated[
        str, typer.Option("--api-key", envvar="OPENSTOQ_API_KEY", help="The shop's API key every tool call uses")
    ],
) -> None:
    """Serve every action as an MCP tool over stdio (for Claude Desktop, Cursor, Claude Code) until stdin closes."""
    import contextlib
    import logging

    from openstoq.errors import Unauthorized
    from openstoq.mcp.stdio import serve_stdio

    # stdout carries the protocol: everything else (logs, migration chatter) goes to stderr, which
    # desktop clients show as the server's log; warnings and up only, so it stays readable there.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings()
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        # Started from another folder, the default data dir is empty: say so rather than make a new database.
        raise fail(
            f"no openstoq database at {settings.sqlite_path}. Set OPENSTOQ_DATA_DIR to the data folder "
            "`openstoq serve` uses (e.g. /path/to/openstoq/.openstoq), or OPENSTOQ_DATABASE_URL."
        )
    with contextlib.redirect_stdout(sys.stderr):
        migrate(settings)

    async def main(runtime: Runtime) -> None:
        principal = await runtime.authenticate(api_key)
        await serve_stdio(runtime, principal, api_key)

    try:
        run(main, settings)
    except Unauthorized as exc:
        raise fail(f"{exc} (in {where(settings)}). Pass a key from `openstoq keys create --shop <domain>`.") from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":  # pragma: no cover
    app()
