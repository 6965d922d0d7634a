"""Server-side latency of ``GET /api/v2/external/help`` (the full manifest), measured in process.

Builds the real app on a temp SQLite data directory with one shop and key, then times many
sequential requests three ways:

- ``asgi``: one call of the ASGI app with a prepared scope: everything the server does for the
  request (routing, auth read, rate limit, the cached manifest, response), no HTTP parsing;
- ``httpx``: the same through ``httpx.ASGITransport`` (adds the client's own overhead);
- ``manifest``: the cached document lookup alone (``Documents.help``).

Target: ``asgi`` p50 under 2 ms.

    .venv/bin/python benchmarks/help_latency.py
    .venv/bin/python benchmarks/help_latency.py --iterations 5000 --check
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from inprocess import asgi_caller
from openstoq.app import create_app
from openstoq.clock import Clock
from openstoq.db.engine import Database
from openstoq.db.migrate import upgrade
from openstoq.settings import BASE_PATH, Settings
from openstoq.shops import create_key, create_shop

TARGET_P50_MS = 2.0
HELP = f"{BASE_PATH}/help"


async def new_key(settings: Settings) -> str:
    db = Database(settings.sqlalchemy_url)
    try:
        now = Clock().now()
        async with db.transaction(write=True) as session:
            shop = await create_shop(session, "bench-help.myshopify.com", now)
            return (await create_key(session, shop, now)).api_key
    finally:
        await db.dispose()


async def timed(name: str, fn: Callable[[], Awaitable[Any]], iterations: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1e3)
    q = statistics.quantiles(samples, n=100, method="inclusive")
    print(f"{name:>9}: p50 {q[49]:8.4f} ms  p99 {q[98]:8.4f} ms  mean {statistics.fmean(samples):8.4f} ms")
    return samples


async def run(iterations: int, warmup: int, data_dir: Path) -> float:
    # A budget the run cannot exhaust: /help is charged like any read.
    settings = Settings(data_dir=data_dir, rate_limit_points=10**9, log_level="warning")
    await asyncio.to_thread(upgrade, settings.sqlalchemy_url)
    api_key = await new_key(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        call = asgi_caller(app, HELP, api_key)
        status, size = await call()
        if status != 200:
            raise RuntimeError(f"GET {HELP} answered {status}")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            first = await client.get(HELP, headers={"X-Auth-Token": api_key})
            first.raise_for_status()
            actions = len(first.json()["actions"])
            print(f"GET {HELP}: {size} byte manifest, {actions} actions; {iterations} sequential requests each")

            async def via_httpx() -> None:
                response = await client.get(HELP, headers={"X-Auth-Token": api_key})
                if response.status_code != 200:
                    raise RuntimeError(f"GET {HELP} answered {response.status_code}")

            async def via_asgi() -> None:
                if (await call())[0] != 200:
                    raise RuntimeError(f"GET {HELP} failed")

            docs = _documents(app)

            async def manifest() -> None:
                docs.help("")

            server = await timed("asgi", via_asgi, iterations, warmup)
            await timed("httpx", via_httpx, iterations, warmup)
            await timed("manifest", manifest, iterations, warmup)
    return statistics.median(server)


def _documents(app: Any) -> Any:
    """The dispatcher's document cache (the Mount under the base path)."""
    for route in app.routes:
        docs = getattr(getattr(route, "app", None), "docs", None)
        if docs is not None:
            return docs
    raise RuntimeError("no dispatcher mounted")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000, help="timed requests per method (default 3000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first (default 200)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when the p50 is not under {TARGET_P50_MS} ms")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="openstoq-help-"))
    try:
        try:
            import uvloop

            p50 = uvloop.run(run(args.iterations, args.warmup, tmp))
        except ImportError:
            p50 = asyncio.run(run(args.iterations, args.warmup, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    met = p50 < TARGET_P50_MS
    print(f"server-side p50 {p50:.3f} ms: {'meets' if met else 'MISSES'} the {TARGET_P50_MS} ms target")
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
