"""``openstoq import catalog`` (in-process, temporary SQLite) and ``openstoq webhooks send`` (against a
real ``openstoq serve`` on the same data directory). What the commands did is checked in the database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli, said
from tests.e2e.servers import Servers, openstoq_env, run_cli
from tests.webhook_support import line, order, product


def query(data_dir: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(data_dir / "openstoq.db") as db:
        return db.execute(sql, args).fetchall()


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def shop(cli: Cli) -> dict[str, str]:
    created = cli("shops", "create", "gear", "--json")
    assert created.exit_code == 0, created.output
    return json.loads(created.stdout)


# --- import catalog --------------------------------------------------------------------------


def test_import_catalog_creates_then_updates(cli: Cli, shop, data_dir: Path, tmp_path: Path) -> None:
    products = [product(10 + i, *(100 + 10 * i + v for v in range(3)), title=f"Item {i}") for i in range(5)]
    first = cli("import", "catalog", str(write(tmp_path / "p.json", products)), "--shop", shop["domain"], "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {
        "products_created": 5,
        "products_updated": 0,
        "variants_created": 15,
        "variants_updated": 0,
    }
    rows = query(data_dir, "select count(*) from variants where shop_id = ? and deleted_at is null", shop["shop_id"])
    assert rows == [(15,)]
    products[0]["title"] = "Item zero"
    products[0]["variants"].append({**products[0]["variants"][0], "id": 999, "inventory_item_id": 998})
    wrapped = write(tmp_path / "wrapped.json", {"products": products[:2]})
    second = cli("import", "catalog", str(wrapped), "--shop", shop["domain"], "--batch-size", "1")
    assert second.exit_code == 0, second.output
    assert "2 products (0 created, 2 updated)" in said(second)
    assert "7 variants (1 created, 6 updated)" in said(second)
    assert query(data_dir, "select title from products where id = 10") == [("Item zero",)]


def test_a_malformed_catalog_names_each_bad_product_and_imports_nothing(
    cli: Cli, shop, data_dir: Path, tmp_path: Path
) -> None:
    products = [product(1, 11), {"id": 2, "variants": []}, product(3, 31), "not a product"]
    products[2]["variants"][0]["price"] = "twelve"
    result = cli("import", "catalog", str(write(tmp_path / "bad.json", products)), "--shop", shop["domain"])
    assert result.exit_code == 1
    message = said(result)
    assert "3 of 4 products are invalid; nothing was imported" in message
    assert "product 1 (id 2): title is required" in message
    assert "product 2 (id 3): variants[0].price: 'twelve' is not an amount of money" in message
    assert "product 3: must be a JSON object, not str" in message
    assert query(data_dir, "select count(*) from products") == [(0,)]


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "is not valid JSON"), ('{"items": []}', 'a JSON list of products, or an object {"products"')],
)
def test_a_catalog_file_that_is_not_a_product_list_is_refused(
    cli: Cli, shop, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    result = cli("import", "catalog", str(path), "--shop", shop["domain"])
    assert result.exit_code == 1
    assert message in said(result)


def test_import_catalog_for_an_unknown_shop_says_so(cli: Cli, tmp_path: Path) -> None:
    result = cli("import", "catalog", str(write(tmp_path / "p.json", [product(1, 2)])), "--shop", "nobody")
    assert result.exit_code == 1
    assert "no shop nobody" in said(result)


# --- webhooks send, against a real server ----------------------------------------------------


def test_webhooks_send_signs_and_posts_like_shopify(servers: Servers, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = openstoq_env(OPENSTOQ_DATA_DIR=str(data))
    server = servers.start(env)
    shop = json.loads(run_cli(["shops", "create", "sender", "--json"], env).stdout)
    domain = shop["domain"]

    def send(topic: str, path: Path, *extra: str):
        return run_cli(["webhooks", "send", topic, str(path), "--shop", domain, "--url", server.url, *extra], env)

    sent = send("products/create", write(tmp_path / "product.json", product(7, 70, 71)))
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith("HTTP 200")
    with httpx.Client(base_url=server.api, headers={"X-Auth-Token": shop["api_key"]}) as api:
        offer = api.post("/preorders/offers", json={"name": "Drop"}).json()
        assert api.post(f"/preorders/offers/{offer['id']}/products/add_variants", json={"variant_ids": [70]}).is_success
        assert api.post(f"/preorders/offers/{offer['id']}/enable").is_success
    payload = write(tmp_path / "order.json", order(501, line(5011, 70, 2), line(5012, 71, 1)))
    first = send("orders/create", payload, "--webhook-id", "delivery-1")
    assert first.returncode == 0 and '"status":"processed"' in first.stdout, first.stdout
    again = send("orders/create", payload, "--webhook-id", "delivery-1")
    assert again.returncode == 0 and '"status":"duplicate"' in again.stdout, again.stdout
    counts = query(data, "select id, preorder_count from variants where shop_id = ? order by id", shop["shop_id"])
    assert counts == [(70, 2), (71, 0)]

    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    refused = send("orders/create", broken)
    assert refused.returncode == 1
    assert refused.stdout.startswith("HTTP 422") and "not valid JSON" in refused.stdout


def test_webhooks_send_to_nowhere_or_for_an_unknown_shop_fails_clearly(cli: Cli, shop, tmp_path: Path) -> None:
    payload = write(tmp_path / "p.json", product(1, 2))
    # Port 9 (discard) on loopback: nothing listens there in a test environment.
    unreachable = cli(
        "webhooks", "send", "products/create", str(payload), "--shop", shop["domain"], "--url", "http://127.0.0.1:9"
    )
    assert unreachable.exit_code == 1
    assert "could not reach http://127.0.0.1:9/webhooks/shopify" in said(unreachable)
    unknown = cli("webhooks", "send", "products/create", str(payload), "--shop", "ghost.myshopify.com")
    assert unknown.exit_code == 1
    assert "no shop ghost.myshopify.com" in said(unknown)
