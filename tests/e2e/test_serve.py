"""``openstoq serve`` as a user runs it: a fresh data directory, the README's curl walk-through
over real HTTP, and ``--demo`` keeping one key across restarts. Embedded SQLite only (no database URL)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.e2e.servers import Servers, openstoq_env, run_cli

DEMO_KEY = re.compile(r"stoq_api_key_[0-9a-f]{32}")


def test_serve_on_a_fresh_data_dir_migrates_and_serves_the_walkthrough(servers: Servers, tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    env = openstoq_env(OPENSTOQ_DATA_DIR=str(data))
    server = servers.start(env)
    assert (data / "openstoq.db").is_file()
    # A key lookup needs the migrated schema: an unknown key is a 401, not a 500.
    unknown = httpx.get(server.api + "/help", headers={"X-Auth-Token": "stoq_api_key_" + "0" * 32})
    assert unknown.status_code == 401, unknown.text

    created = run_cli(["shops", "create", "walkthrough", "--json"], env)
    assert created.returncode == 0, created.stderr
    shop = json.loads(created.stdout)
    assert set(shop) == {"shop_id", "domain", "api_key", "webhook_secret"}
    assert shop["domain"] == "walkthrough.myshopify.com"

    with httpx.Client(base_url=server.api, headers={"X-Auth-Token": shop["api_key"]}, timeout=30) as api:
        help_ = api.get("/help")
        assert help_.status_code == 200
        assert any(a["name"] == "set_button_text" for a in help_.json()["actions"])

        offer = api.post("/preorders/offers", json={"name": "Spring drop"})
        assert offer.status_code == 202, offer.text
        oid = offer.json()["id"]

        enabled = api.post(f"/preorders/offers/{oid}/enable")
        assert enabled.status_code == 202, enabled.text
        assert enabled.json()["status"] == "enabled" and enabled.json()["live"] is True

        button = api.post(f"/preorders/offers/{oid}/widget/set_button_text", json={"text": "Reserve yours"})
        assert button.status_code == 202, button.text
        assert button.json()["button"]["text"] == "Reserve yours"

        stored = api.get(f"/preorders/offers/{oid}/widget")
        assert stored.json()["button"]["text"] == "Reserve yours"
        history = [e["action"] for e in api.get(f"/preorders/offers/{oid}/history").json()["events"]]
        assert history == ["create", "enable", "widget.set_button_text"]


def test_serve_demo_prints_the_same_working_key_every_time(servers: Servers, tmp_path: Path) -> None:
    env = openstoq_env(OPENSTOQ_DATA_DIR=str(tmp_path / "demo"))
    keys = []
    for _ in range(2):
        server = servers.start(env, "--demo")
        printed = DEMO_KEY.findall(server.output())
        assert printed, server.output()
        key = printed[0]
        assert set(printed) == {key}
        response = httpx.get(server.api + "/preorders/offers", headers={"X-Auth-Token": key})
        assert response.status_code == 200, response.text
        server.stop()
        keys.append(key)
    assert keys[0] == keys[1]
    assert (tmp_path / "demo" / "demo_api_key").read_text().strip() == keys[0]
