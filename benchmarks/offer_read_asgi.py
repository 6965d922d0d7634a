"""CPU per request of the offer read inside the app, against a bare Starlette app, both in process.

The companion of ``offer_read.py`` for a noisy machine: no HTTP server and no load generator, so
what it measures is the app's own work per request (routing, auth, rate limit, the read, the
response) and the bare app's, in the same process and the same run. Each is timed for several
rounds of sequential requests and the best round counts, which is what the code costs when the
neighbours leave the CPU alone. Add the HTTP server's share (the bare endpoint's CPU in
``offer_read.py`` minus the bare app's here, about 40 µs) to compare with a live server.

    .venv/bin/python benchmarks/offer_read_asgi.py
    .venv/bin/python benchmarks/offer_read_asgi.py --requests 5000 --rounds 7
    .venv/bin/python benchmarks/offer_read_asgi.py --database-url postgresql+asyncpg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from help_latency import new_key
from inprocess import asgi_caller
from openstoq.app import create_app
from openstoq.db.migrate import upgrade
from openstoq.settings import BASE_PATH, Settings

OFFERS = f"{BASE_PATH}/preorders/offers"


def bare_app(payload: Any) -> Starlette:
    """The same body at the same path, as ``offer_read.py``'s bare server answers it."""

    async def offer(_: Request) -> JSONResponse:
        return JSONResponse(payload)

    return Starlette(routes=[Route(OFFERS + "/{id}", offer)])


async def best_round(call: Callable[[], Awaitable[tuple[int, int]]], requests: int, rounds: int) -> float:
    """The least CPU per request (µs) over ``rounds`` rounds of ``requests`` sequential requests."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(requests):
            status, _size = await call()
            if status != 200:
                raise RuntimeError(f"a request answered {status}")
        best = min(best, (time.process_time() - start) / requests * 1e6)
    return best


async def run(settings: Settings, requests: int, rounds: int) -> tuple[float, float]:
    await asyncio.to_thread(upgrade, settings.sqlalchemy_url)
    api_key = await new_key(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            created = await client.post(OFFERS, json={"name": "Bench"}, headers={"X-Auth-Token": api_key})
            created.raise_for_status()
        path = f"{OFFERS}/{created.json()['id']}"
        openstoq = asgi_caller(app, path, api_key)
        bare = asgi_caller(bare_app(orjson.loads(created.content)), path, api_key)
        for call in (openstoq, bare):  # warm both: statement caches, prepared reads, the key cache
            await best_round(call, max(100, requests // 10), 1)
        ours = await best_round(openstoq, requests, rounds)
        theirs = await best_round(bare, requests, rounds)
    return ours, theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="sequential requests per round (default 3000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per app; the best counts (default 5)")
    parser.add_argument("--database-url", help="an empty database to use instead of a temp SQLite file")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="openstoq-bench-"))
    try:
        # A budget the run cannot exhaust: every read costs a point.
        settings = Settings(
            data_dir=data_dir, database_url=args.database_url, rate_limit_points=10**9, log_level="warning"
        )
        ours, theirs = asyncio.run(run(settings, args.requests, args.rounds))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    where = "PostgreSQL" if args.database_url else "SQLite"
    print(f"GET {OFFERS}/:id in process, best of {args.rounds} rounds of {args.requests} requests ({where})")
    print(f"    openstoq: {ours:7.1f} µs CPU per request")
    print(f"        bare: {theirs:7.1f} µs CPU per request")
    print(f"CPU-per-request ratio bare/openstoq: {theirs / ours:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
