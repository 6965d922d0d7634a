"""Webhook ingest: signed ``orders/create`` deliveries per second, and how soon counts are right after a burst.

Starts a real ``openstoq serve`` on a fresh SQLite data directory (a temporary one, removed at the
end), creates a shop with ``openstoq shops create --json``, loads a catalog with ``openstoq import
catalog`` (200 products x 3 variants), creates an offer over the API, attaches two variants of each
product (``products/add_variants``) and enables it. Then it posts Shopify-format ``orders/create``
webhooks, each with 3 lines (2 preorder lines, 1 ordinary line) and a valid HMAC signature:

1. throughput at a few concurrency levels (senders = requests in flight): acknowledged webhooks per
   second, p50/p99 latency, and the server's CPU per webhook (robust when the machine is busy);
2. a burst of 5,000 orders as fast as the senders go, then the time from the burst's start until
   every preorder count in the database equals the units sent (read-only SQLite reads; processing is
   synchronous, so counts are right when the last acknowledgement arrives).

Bodies and signatures are prepared before each timed phase, so the client measures the server.
Everything listens on 127.0.0.1 only.

    .venv/bin/python benchmarks/webhooks_ingest.py
    .venv/bin/python benchmarks/webhooks_ingest.py --burst 1000 --per-level 500 --levels 1,8
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from procs import BIN, cpu_seconds, openstoq_serve

BASE_PATH = "/api/v2/external"
WEBHOOKS = "/webhooks/shopify"
PRODUCTS, VARIANTS_PER_PRODUCT = 200, 3


def openstoq(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "openstoq"), *args], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"openstoq {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def catalog() -> list[dict[str, Any]]:
    products = []
    for p in range(PRODUCTS):
        pid = 1_000 + p
        variants = [
            {
                "id": pid * 10 + v,
                "title": f"Size {v}",
                "sku": f"B-{pid}-{v}",
                "price": "50.00",
                "position": v + 1,
                "inventory_item_id": 9_000_000 + pid * 10 + v,
                "inventory_quantity": 0,
            }
            for v in range(VARIANTS_PER_PRODUCT)
        ]
        products.append({"id": pid, "title": f"Bench product {p}", "status": "active", "variants": variants})
    return products


@dataclass
class Prepared:
    body: bytes
    headers: dict[str, str]


class Orders:
    """Signed orders/create deliveries; remembers the units sent per preorder variant."""

    def __init__(self, domain: str, secret: str) -> None:
        self.domain, self.secret = domain, secret.encode()
        self.next_id = 1
        self.expected: Counter[int] = Counter()

    def make(self, count: int) -> list[Prepared]:
        out = []
        for _ in range(count):
            n = self.next_id
            self.next_id += 1
            pid = 1_000 + n % PRODUCTS
            other = 1_000 + (n * 7) % PRODUCTS
            q1, q2 = 1 + n % 3, 1 + (n // 3) % 2
            lines = [
                {"id": n * 10 + 1, "variant_id": pid * 10, "quantity": q1, "price": "50.00", "title": "A"},
                {"id": n * 10 + 2, "variant_id": pid * 10 + 1, "quantity": q2, "price": "50.00", "title": "B"},
                {"id": n * 10 + 3, "variant_id": other * 10 + 2, "quantity": 1, "price": "50.00", "title": "C"},
            ]
            self.expected[pid * 10] += q1
            self.expected[pid * 10 + 1] += q2
            order = {
                "id": 7_000_000 + n,
                "name": f"#{n}",
                "email": f"buyer{n % 500}@example.com",
                "currency": "USD",
                "financial_status": "paid",
                "total_price": f"{50 * (q1 + q2 + 1):.2f}",
                "customer": {"id": 50_000 + n % 500, "email": f"buyer{n % 500}@example.com"},
                "line_items": lines,
            }
            body = json.dumps(order).encode()
            signature = base64.b64encode(hmac.new(self.secret, body, hashlib.sha256).digest()).decode()
            out.append(
                Prepared(
                    body,
                    {
                        "Content-Type": "application/json",
                        "X-Shopify-Topic": "orders/create",
                        "X-Shopify-Shop-Domain": self.domain,
                        "X-Shopify-Webhook-Id": f"bench-{n}",
                        "X-Shopify-Hmac-Sha256": signature,
                    },
                )
            )
        return out


async def send_all(url: str, items: list[Prepared], senders: int) -> tuple[float, list[float], int]:
    """Post every item with ``senders`` in flight; returns (seconds, latencies, failures)."""
    queue = iter(items)
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def sender() -> None:
            nonlocal failures
            for item in queue:
                started = time.perf_counter()
                response = await client.post(WEBHOOKS, content=item.body, headers=item.headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or b'"processed"' not in response.content:
                    failures += 1

        start = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        return time.perf_counter() - start, latencies, failures


def counts_match(db: Path, expected: Counter[int]) -> bool:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = dict(conn.execute("select id, preorder_count from variants"))
    return all(rows.get(variant, 0) == units for variant, units in expected.items()) and all(
        count == expected.get(variant, 0) for variant, count in rows.items()
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,16", help="senders (requests in flight) per throughput run")
    parser.add_argument("--per-level", type=int, default=1500, help="orders per throughput run")
    parser.add_argument("--burst", type=int, default=5000, help="orders in the burst")
    parser.add_argument("--burst-senders", type=int, default=16)
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds to wait for correct counts")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]

    with tempfile.TemporaryDirectory(prefix="openstoq-bench-webhooks-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTOQ_")}
        env.update(OPENSTOQ_DATA_DIR=str(root / "data"), OPENSTOQ_LOG_LEVEL="warning", PYTHONUNBUFFERED="1")
        shop = json.loads(openstoq(env, "shops", "create", "bench-hooks", "--json"))
        (root / "catalog.json").write_text(json.dumps(catalog()))
        openstoq(env, "import", "catalog", str(root / "catalog.json"), "--shop", shop["domain"])
        server = openstoq_serve(env, root / "serve.log")
        try:
            api = httpx.Client(base_url=server.url + BASE_PATH, headers={"X-Auth-Token": shop["api_key"]}, timeout=60)
            offer = api.post("/preorders/offers", json={"name": "Bench drop"}).json()
            attached = [(1_000 + p) * 10 + v for p in range(PRODUCTS) for v in (0, 1)]
            for start in range(0, len(attached), 100):  # the action takes at most 100 ids a call
                batch = {"variant_ids": attached[start : start + 100]}
                api.post(f"/preorders/offers/{offer['id']}/products/add_variants", json=batch).raise_for_status()
            api.post(f"/preorders/offers/{offer['id']}/enable").raise_for_status()
            orders = Orders(shop["domain"], shop["webhook_secret"])
            asyncio.run(send_all(server.url, orders.make(200), 4))  # warm-up: connections, caches, SQLite pages

            print(f"orders/create, 3 lines (2 preorder), signed; openstoq serve on SQLite ({os.cpu_count()} CPUs)")
            print(f"{'senders':>8} {'orders':>7} {'webhooks/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/hook':>12}")
            for senders in levels:
                items = orders.make(args.per_level)
                cpu_before = cpu_seconds(server.proc.pid)
                seconds, latencies, failures = asyncio.run(send_all(server.url, items, senders))
                cpu_after = cpu_seconds(server.proc.pid)
                cpu = (
                    f"{(cpu_after - cpu_before) / len(items) * 1000:12.2f}"
                    if cpu_before is not None and cpu_after is not None
                    else f"{'n/a':>12}"
                )
                print(
                    f"{senders:>8} {len(items):>7} {len(items) / seconds:>11.0f} "
                    f"{statistics.median(latencies) * 1000:>8.1f} {percentile(latencies, 0.99) * 1000:>8.1f} {cpu}"
                    + (f"  ({failures} not processed)" if failures else "")
                )

            if args.burst <= 0:
                return
            items = orders.make(args.burst)
            db = root / "data" / "openstoq.db"
            start = time.perf_counter()
            seconds, _, failures = asyncio.run(send_all(server.url, items, args.burst_senders))
            acknowledged = time.perf_counter() - start
            while not counts_match(db, orders.expected):
                if time.perf_counter() - start > args.deadline:
                    raise SystemExit(f"counts still wrong after {args.deadline:.0f} s")
                time.sleep(0.05)
            correct = time.perf_counter() - start
            print(
                f"burst of {args.burst} orders with {args.burst_senders} senders: all acknowledged after "
                f"{acknowledged:.2f} s ({args.burst / seconds:.0f}/s), every preorder count correct after "
                f"{correct:.2f} s ({len(orders.expected)} variants checked in the database)"
                + (f"; {failures} not processed" if failures else "")
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
