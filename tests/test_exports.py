"""Exports: a job that writes a CSV file and ends ``ready`` with a signed, expiring download link.

The link needs no API key; a tampered or expired one is a 403 envelope. Expired exports are cleaned
up with their files, and files no job owns are swept.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest

from openstoq.clock import Clock
from openstoq.db.models import Job, Variant
from openstoq.jobs import exports, records
from openstoq.jobs.engine import JobEngine, running
from openstoq.preorders.variants.jobs import EXPORT
from openstoq.runtime import Runtime
from tests.conftest import ShopKeys
from tests.jobs_support import VARIANTS, relative, seed_offer, seed_variants, wait_for_job

READY_KEYS = {
    "job_id",
    "status",
    "progress",
    "total",
    "processed",
    "failed",
    "errors",
    "download_url",
    "expires_at",
    "row_count",
}
HEADER = ["variant_id", "product_id", "title", "sku", "offer_ids", "preorder_count", "max_count"]


@pytest.fixture(scope="module")
async def engine(runtime: Runtime) -> AsyncIterator[JobEngine]:
    async with running(runtime, "workers") as started:
        yield started


async def export_ready(client: httpx.AsyncClient) -> dict:
    response = await client.post(f"{VARIANTS}/export")
    assert response.status_code == 202, response.text
    handle = response.json()
    assert set(handle) == {"job_id", "status_url"}, "no count on exports"
    assert re.fullmatch(r"exp_[0-9a-f]{16}", handle["job_id"])
    return await wait_for_job(client, handle["status_url"])


async def test_an_export_ends_ready_and_downloads_without_a_key(
    engine: JobEngine, runtime: Runtime, shop: ShopKeys, client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    ids = await seed_variants(runtime.db, shop.shop_id, range(1, 12_001))
    first = await seed_offer(runtime.db, shop.shop_id, ids, max_count=50)  # 12,000 rows: three pages
    second = await seed_offer(runtime.db, shop.shop_id, ids[:3])
    await seed_offer(runtime.db, shop.shop_id, [20_000], status="discarded")  # not attached any more

    done = await export_ready(client)
    assert set(done) == READY_KEYS, done
    assert (done["status"], done["progress"], done["row_count"]) == ("ready", 100, 12_000)
    assert (done["total"], done["processed"], done["failed"], done["errors"]) == (12_000, 12_000, 0, [])
    assert done["download_url"].startswith(f"/api/v2/external/downloads/{done['job_id']}/product_variants-")

    response = await anon.get(relative(done["download_url"]))  # no X-Auth-Token
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == HEADER and len(rows) == 12_001
    by_id = {int(r[0]): r for r in rows[1:]}
    assert sorted(by_id) == ids
    assert by_id[1] == ["1", "1", "Variant 1", "SKU-1", f"{first};{second}", "0", "50"]
    assert by_id[4][4] == first


async def test_an_empty_export_is_ready_with_a_header_only(
    engine: JobEngine, shop: ShopKeys, client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    done = await export_ready(client)
    assert (done["status"], done["row_count"], done["total"]) == ("ready", 0, 0)
    response = await anon.get(relative(done["download_url"]))
    assert response.status_code == 200 and response.text.strip() == ",".join(HEADER)


async def test_cells_a_spreadsheet_would_run_are_neutralised(
    engine: JobEngine, runtime: Runtime, shop: ShopKeys, client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    await seed_variants(runtime.db, shop.shop_id, [1])
    await seed_offer(runtime.db, shop.shop_id, [1])
    async with runtime.db.transaction(write=True) as session:
        variant = await session.get(Variant, (shop.shop_id, 1))
        assert variant is not None
        variant.title, variant.sku = '=HYPERLINK("http://x")', "+1"
    done = await export_ready(client)
    rows = list(csv.reader(io.StringIO((await anon.get(relative(done["download_url"]))).text)))
    assert rows[1][2:4] == ['\'=HYPERLINK("http://x")', "'+1"]


def tamper(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    path = parts.path
    if "filename" in changes:
        path = path.rsplit("/", 1)[0] + "/" + changes.pop("filename")
    query.update(changes)
    return urlunsplit(parts._replace(path=path, query="&".join(f"{k}={v}" for k, v in query.items())))


async def test_a_tampered_or_expired_link_is_403(
    engine: JobEngine,
    runtime: Runtime,
    clock: Clock,
    shop: ShopKeys,
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
) -> None:
    done = await export_ready(client)
    url = relative(done["download_url"])
    signature = parse_qs(urlsplit(url).query)["signature"][0]
    expires = parse_qs(urlsplit(url).query)["expires"][0]
    other = (await export_ready(client))["job_id"]
    bad = [
        tamper(url, signature="0" * 64),
        tamper(url, signature=signature[:-1] + ("0" if signature[-1] != "0" else "1")),
        tamper(url, signature="é"),
        tamper(url, expires=str(int(expires) + 3600)),  # a longer life is not for sale
        tamper(url, expires="soon"),
        tamper(url, filename="other.csv"),
        url.replace(done["job_id"], other),
        url.split("?")[0],
    ]
    for link in bad:
        response = await anon.get(link)
        assert response.status_code == 403, (link, response.text)
        assert response.json() == {"errors": ["This download link is invalid"]}

    clock.advance(timedelta(hours=runtime.settings.export_ttl_hours, seconds=1))
    expired = await anon.get(url)
    assert expired.status_code == 403
    assert expired.json() == {"errors": ["This download link has expired; export again for a new one"]}
    assert (await client.get(f"{VARIANTS}/jobs/{done['job_id']}")).status_code == 404


async def test_expired_exports_and_orphaned_files_are_cleaned_up(
    engine: JobEngine,
    runtime: Runtime,
    clock: Clock,
    shop: ShopKeys,
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
) -> None:
    done = await export_ready(client)
    path = exports.file_for(runtime.settings, done["job_id"])
    assert path.is_file()
    orphan = runtime.settings.exports_path / "exp_00000000000000ff.csv.part"  # a crashed writer's
    orphan.write_text("variant_id\n")
    young = runtime.settings.exports_path / "exp_00000000000000fe.csv"  # maybe still being renamed
    young.write_text("variant_id\n")
    hour_ago = time.time() - exports.ORPHAN_AGE_SECONDS - 60
    os.utime(orphan, (hour_ago, hour_ago))

    await engine.cleanup()
    assert path.is_file() and not orphan.exists() and young.exists(), "only what no live job owns goes"

    clock.advance(timedelta(hours=runtime.settings.export_ttl_hours, minutes=1))
    await engine.cleanup()
    assert not path.exists()
    async with runtime.db.transaction(write=False) as session:
        assert await session.get(Job, done["job_id"]) is None
    clock.offset = Clock().offset
    response = await anon.get(relative(done["download_url"]))
    assert response.status_code == 404, "a valid link to a cleaned-up file"
    young.unlink()


async def test_an_export_cancelled_mid_way_leaves_no_file(
    engine: JobEngine, runtime: Runtime, shop: ShopKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await seed_variants(runtime.db, shop.shop_id, range(1, 11))
    await seed_offer(runtime.db, shop.shop_id, ids)
    async with runtime.shop_transaction(shop.shop_id, source="api", domain=shop.domain) as ctx:
        job_id = (await records.create(ctx, EXPORT, params={})).id  # not enqueued: run by hand below
    original = records.export_progress

    async def cancelled_after_the_first_page(session, job_id, written, now):  # the operator cancels mid-way
        await records.cancel(session, job_id, now, runtime.settings)
        return await original(session, job_id, written, now)

    monkeypatch.setattr(exports, "PAGE_ROWS", 3)
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 0)
    monkeypatch.setattr(records, "export_progress", cancelled_after_the_first_page)
    assert await exports.run_export(runtime, job_id) == "cancelled"
    path = exports.file_for(runtime.settings, job_id)
    assert not path.exists() and not path.with_name(path.name + ".part").exists()
    assert await exports.run_export(runtime, job_id) == "skipped", "a redelivery finds it over"
