"""One composition root: every process sees the same features, whatever it happens to import.

The defect this guards: registries filled as a side effect of importing a module, so the
``openstoq import catalog`` process (which never imported the widget capability) rewrote the shop's
``selling_plans`` metafield without the offers' ``widget`` blocks.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from openstoq.app import create_app
from openstoq.cli import common
from openstoq.composition import FEATURES, build_features, build_runtime
from openstoq.db.models import Metafield
from openstoq.feature import Feature, Features
from openstoq.platform import NAMESPACE
from openstoq.settings import BASE_PATH, Settings
from tests.conftest import Cli
from tests.webhook_support import product


def shape(features: Features) -> dict[str, object]:
    """What a process was composed of, by name."""
    return {
        "actions": sorted(a.key for a in features.registry),
        "capabilities": list(features.capabilities),
        "job_kinds": sorted(features.job_kinds),
        "topics": {name: len(handlers) for name, handlers in features.topics.items()},
        "commands": sorted(features.commands),
        "duties": [d.name for d in features.duties],
        "skills": sorted(features.skills),
    }


def test_every_entry_point_is_built_from_the_same_features(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    expected = shape(build_features())
    assert shape(create_app(settings).state.runtime.features) == expected  # serve (and the tests' apps)

    async def composed(runtime) -> Features:  # worker, mcp and every CLI command run on this
        return runtime.features

    assert shape(common.run(composed, settings)) == expected
    assert expected["capabilities"] == ["widget", "products"]
    assert "orders/create" in expected["topics"] and "preorders.shop_metafield" in expected["commands"]


def test_a_fresh_process_importing_only_the_catalog_import_sees_every_feature() -> None:
    """No module registers anything on import: what the catalog import's process imports is enough."""
    probe = (
        "import json\n"
        "import openstoq.cli.platform\n"
        "from openstoq.composition import build_features\n"
        "f = build_features()\n"
        "print(json.dumps([list(f.capabilities), sorted(f.job_kinds), len(f.registry)]))\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    features = build_features()
    assert json.loads(ran.stdout) == [list(features.capabilities), sorted(features.job_kinds), len(features.registry)]


def test_two_features_may_not_claim_one_name() -> None:
    (preorders, *_) = FEATURES
    with pytest.raises(ValueError, match="capability widget is declared by two features"):
        Features([*FEATURES, Feature("copy", capabilities=preorders.capabilities)])
    with pytest.raises(ValueError, match="feature preorders is declared by two features"):
        Features([*FEATURES, Feature("preorders")])


def test_a_catalog_import_keeps_the_widget_block_of_the_shops_metafield(
    cli: Cli, data_dir: Path, tmp_path: Path
) -> None:
    created = cli("shops", "create", "widgets", "--json")
    assert created.exit_code == 0, created.output
    shop = json.loads(created.stdout)
    headers = {"X-Auth-Token": shop["api_key"]}

    async def offer_with_source_all() -> str:
        app = create_app(Settings(data_dir=data_dir))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=headers) as api:
            offer = (await api.post("/preorders/offers", json={"name": "Everything"})).json()["id"]
            await api.post(f"/preorders/offers/{offer}/products/set_source", json={"source": "all"})
            await api.post(f"/preorders/offers/{offer}/widget/set_button_text", json={"text": "Reserve it"})
            assert (await api.post(f"/preorders/offers/{offer}/enable")).status_code == 202
        await app.state.runtime.close()
        return str(offer)

    async def after_the_import() -> tuple[list[str], Metafield | None]:
        runtime = build_runtime(Settings(data_dir=data_dir))
        transport = httpx.ASGITransport(app=create_app(runtime.settings, runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=headers) as api:
            variant = (await api.get("/preorders/product_variants/4400011")).json()
        async with runtime.db.transaction(write=False) as session:
            held = await session.get(Metafield, (shop["shop_id"], "shop", 0, NAMESPACE, "selling_plans"))
        await runtime.close()
        return [o["id"] for o in variant["offers"]], held

    offer = asyncio.run(offer_with_source_all())
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([product(4_400_001, 4_400_011)]))
    imported = cli("import", "catalog", str(catalog), "--shop", shop["domain"])
    assert imported.exit_code == 0, imported.output
    offers, held = asyncio.run(after_the_import())
    assert offers == [offer], "the new variant joined the offer with source all"
    assert held is not None
    [entry] = orjson.loads(held.value)
    assert entry["widget"]["button"]["text"] == "Reserve it", "the import kept the offer's widget block"
