"""Shared fixtures: every database-backed test runs on SQLite and on PostgreSQL.

``--backends sqlite`` narrows a local run; CI runs both (PostgreSQL must be up: it fails, never skips).
Tests isolate themselves by creating their own shops, so one migrated database serves a whole run.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from openstoq.app import create_app
from openstoq.cli.main import app as cli_app
from openstoq.clock import Clock
from openstoq.composition import build_runtime
from openstoq.db.engine import Database
from openstoq.db.migrate import upgrade
from openstoq.runtime import Runtime
from openstoq.settings import BASE_PATH, Settings
from openstoq.shops import create_key, create_shop
from tests.e2e.servers import Servers

POSTGRES_URL = os.environ.get("OPENSTOQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OPENSTOQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = [b.strip() for b in metafunc.config.getoption("--backends").split(",") if b.strip()]
        metafunc.parametrize("backend", backends, scope="session")


async def _create_pg_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database for this run: a temp SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'openstoq.db'}"
        upgrade(url)
        yield url
        return
    name = f"openstoq_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_pg_database(name))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
    upgrade(url)
    yield url
    asyncio.run(_drop_pg_database(name))


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _reset_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "clock" in request.fixturenames:
        request.getfixturevalue("clock").offset = Clock().offset


@pytest.fixture(scope="session")
async def runtime(settings: Settings, clock: Clock) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings, clock=clock)
    yield rt
    await rt.close()


@pytest.fixture(scope="session")
def app(runtime: Runtime):
    return create_app(runtime.settings, runtime=runtime)


@dataclass(frozen=True)
class ShopKeys:
    shop_id: str
    domain: str
    api_key: str
    webhook_secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.api_key}


MakeShop = Callable[..., Awaitable[ShopKeys]]


async def new_shop(db: Database, *, read_only: bool = False, now_clock: Clock | None = None) -> ShopKeys:
    now = (now_clock or Clock()).now()
    async with db.transaction(write=True) as session:
        shop = await create_shop(session, f"t-{uuid.uuid4().hex[:16]}.myshopify.com", now)
        key = await create_key(session, shop, now, read_only=read_only)
        return ShopKeys(shop.id, shop.domain, key.api_key, shop.webhook_secret)


@pytest.fixture
def make_shop(runtime: Runtime) -> MakeShop:
    async def make(*, read_only: bool = False) -> ShopKeys:
        return await new_shop(runtime.db, read_only=read_only)

    return make


@pytest.fixture
async def shop(make_shop: MakeShop) -> ShopKeys:
    return await make_shop()


@pytest.fixture
async def client(app, shop: ShopKeys) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the ASGI app, authenticated as ``shop``."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://test{BASE_PATH}", headers=shop.headers) as c:
        yield c


@pytest.fixture
async def anon(app) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no key."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://test{BASE_PATH}") as c:
        yield c


@pytest.fixture
async def offer(client: httpx.AsyncClient) -> dict:
    response = await client.post("/preorders/offers", json={"name": "Spring drop"})
    assert response.status_code == 202, response.text
    return response.json()


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


# --- the CLI, in process, on a temporary embedded database ---------------------------------------

Cli = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli(data_dir: Path) -> Cli:
    """Run ``openstoq <args>`` in-process with OPENSTOQ_DATA_DIR set and no database URL (embedded SQLite)."""
    runner = CliRunner(env={"OPENSTOQ_DATA_DIR": str(data_dir), "OPENSTOQ_DATABASE_URL": None})

    def invoke(*args: str) -> Result:
        return runner.invoke(cli_app, list(args))

    return invoke


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """Real ``openstoq`` processes for this test (``tests/e2e/servers.py``), stopped at its end."""
    with Servers(tmp_path / "logs") as started:
        yield started


def said(result: Result) -> str:
    """What the command printed on stderr, as one line (rich wraps long messages)."""
    return " ".join(result.stderr.split())
