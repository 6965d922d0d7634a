"""Webhooks end to end on a real ``openstoq serve --demo``: the demo seed (catalog, offers and orders
through the real webhook path), then ``openstoq webhooks send`` moving a preorder count over HTTP,
read back through the API. Embedded SQLite in a temporary data directory."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx

from openstoq.demo import BOTTLES, JACKETS, ORDERS, SHOES
from tests.e2e.servers import Servers, openstoq_env, run_cli
from tests.webhook_support import line, order


def deliveries(data: Path) -> int:
    with sqlite3.connect(data / "openstoq.db") as db:
        return db.execute("select count(*) from webhook_deliveries").fetchone()[0]


def test_demo_seed_and_a_signed_order_over_http(servers: Servers, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = openstoq_env(OPENSTOQ_DATA_DIR=str(data))
    server = servers.start(env, "--demo")
    key = (data / "demo_api_key").read_text().strip()
    assert "demo shop seeded" in server.output()
    with httpx.Client(base_url=server.api, headers={"X-Auth-Token": key}, timeout=30) as api:
        offers = api.get("/preorders/offers").json()["offers"]
        assert sorted((o["name"], o["status"], o["variant_count"]) for o in offers) == [
            ("Bottle restock", "disabled", len(BOTTLES)),
            ("Spring drop", "enabled", len(SHOES) + len(JACKETS)),
        ]
        # Demo orders put 2 + 1 units on the third shoe size (orders #1001 and #1006).
        assert api.get(f"/preorders/product_variants/{SHOES[2]}").json()["preorder_count"] == 2
        assert api.get(f"/preorders/product_variants/{BOTTLES[0]}").json()["preorder_count"] == 0
        seeded = deliveries(data)

        payload = tmp_path / "order.json"
        payload.write_text(json.dumps(order(990_001, line(990_011, SHOES[0], 3))))
        sent = run_cli(
            ["webhooks", "send", "orders/create", str(payload), "--shop", "demo.myshopify.com", "--url", server.url],
            env,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        read = api.get(f"/preorders/product_variants/{SHOES[0]}").json()
        assert read["preorder_count"] == 3
        assert read["metafields"]["actual"]["preorder_count"] == 3 and read["metafields"]["in_sync"]

        payload.write_text(json.dumps(order(990_001, line(990_011, SHOES[0], 3), cancelled_at="2026-11-27T00:00:00Z")))
        cancel = ["webhooks", "send", "orders/cancelled", str(payload), "--shop", "demo.myshopify.com"]
        assert run_cli([*cancel, "--url", server.url], env).returncode == 0
        assert api.get(f"/preorders/product_variants/{SHOES[0]}").json()["preorder_count"] == 0
    server.stop()

    # A restart seeds nothing again.
    again = servers.start(env, "--demo")
    assert "demo shop seeded" not in again.output()
    assert deliveries(data) == seeded + 2
    with httpx.Client(base_url=again.api, headers={"X-Auth-Token": key}, timeout=30) as api:
        assert api.get("/preorders/offers").json()["meta"]["total_count"] == 2
    assert seeded >= len(ORDERS)
