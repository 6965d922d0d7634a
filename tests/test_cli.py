"""The ``openstoq`` command on a temporary SQLite database: shops, keys and db upgrade.

Each test gets its own data directory (and so its own database file). What the commands did is
checked in the database itself, not only in what they print.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from openstoq.cli.main import app
from openstoq.context import Principal
from openstoq.db.engine import Database
from openstoq.settings import Settings
from openstoq.shops import KeyCache
from tests.conftest import Cli, said

KEY = re.compile(r"^stoq_api_key_[0-9a-f]{32}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result


def principal(data_dir: Path, key: str) -> Principal | None:
    """Who ``key`` authenticates as in the data dir's database (None: refused)."""

    async def lookup() -> Principal | None:
        db = Database(Settings(data_dir=data_dir).sqlalchemy_url)
        try:
            return await KeyCache(db).authenticate(key)
        finally:
            await db.dispose()

    return asyncio.run(lookup())


def create_shop(cli: Cli, domain: str = "acme") -> dict[str, str]:
    return json.loads(ok(cli("shops", "create", domain, "--json")).stdout)


# --- shops create ----------------------------------------------------------------------------


def test_shops_create_json_has_exactly_the_published_fields(cli: Cli, data_dir: Path) -> None:
    created = create_shop(cli, "Acme")
    assert set(created) == {"shop_id", "domain", "api_key", "webhook_secret"}
    assert created["domain"] == "acme.myshopify.com"
    assert UUID.match(created["shop_id"])
    assert KEY.match(created["api_key"])
    assert re.fullmatch(r"[0-9a-f]{64}", created["webhook_secret"])
    found = principal(data_dir, created["api_key"])
    assert found is not None and found.shop_id == created["shop_id"] and not found.read_only


def test_shops_create_without_json_shows_the_key_once(cli: Cli, data_dir: Path) -> None:
    result = ok(cli("shops", "create", "plain.myshopify.com"))
    keys = re.findall(r"stoq_api_key_[0-9a-f]{32}", result.output)
    assert len(keys) == 1
    assert principal(data_dir, keys[0]) is not None


def test_shops_create_duplicate_domain_fails_clearly(cli: Cli) -> None:
    create_shop(cli, "acme")
    again = cli("shops", "create", "acme.myshopify.com", "--json")
    assert again.exit_code == 1
    assert again.stdout == "", "no JSON for a shop that was not created"
    assert "shop acme.myshopify.com already exists" in said(again)
    assert "openstoq keys create --shop acme.myshopify.com" in said(again)


@pytest.mark.parametrize("domain", ["bad domain", "acme_shop.myshopify.com", "acme.example.com"])
def test_shops_create_refuses_a_bad_domain(cli: Cli, domain: str) -> None:
    result = cli("shops", "create", domain)
    assert result.exit_code == 1
    assert "is not a shop domain" in said(result)


# --- keys ------------------------------------------------------------------------------------


def test_keys_create_read_only(cli: Cli, data_dir: Path) -> None:
    shop = create_shop(cli)
    issued = json.loads(ok(cli("keys", "create", "--shop", shop["domain"], "--read-only", "--json")).stdout)
    assert set(issued) == {"key_id", "shop_id", "api_key", "read_only"}
    assert issued["read_only"] is True and issued["shop_id"] == shop["shop_id"]
    assert KEY.match(issued["api_key"]) and issued["api_key"] != shop["api_key"]
    found = principal(data_dir, issued["api_key"])
    assert found is not None and found.read_only and found.shop_id == shop["shop_id"]


def test_keys_create_prints_only_the_key(cli: Cli, data_dir: Path) -> None:
    shop = create_shop(cli)
    key = ok(cli("keys", "create", "--shop", shop["domain"])).stdout.strip()
    assert KEY.match(key)
    found = principal(data_dir, key)
    assert found is not None and not found.read_only


def test_keys_list_json_shows_no_clear_keys(cli: Cli) -> None:
    shop = create_shop(cli)
    second = ok(cli("keys", "create", "--shop", shop["domain"], "--read-only")).stdout.strip()
    listed = ok(cli("keys", "list", "--shop", shop["domain"], "--json"))
    rows = json.loads(listed.stdout)
    assert [set(r) for r in rows] == [{"key_id", "ends_with", "read_only", "created_at", "revoked_at"}] * 2
    assert [r["read_only"] for r in rows] == [False, True]
    assert [r["ends_with"] for r in rows] == [shop["api_key"][-4:], second[-4:]]
    for key in (shop["api_key"], second):
        secret = key.removeprefix("stoq_api_key_")
        assert secret[:8] not in listed.output and secret[-8:-4] not in listed.output


def test_keys_list_table_shows_no_clear_keys(cli: Cli) -> None:
    shop = create_shop(cli)
    listed = ok(cli("keys", "list", "--shop", shop["domain"]))
    assert shop["api_key"][-4:] in listed.output
    assert shop["api_key"].removeprefix("stoq_api_key_")[:8] not in listed.output


def test_keys_revoke_by_key_and_by_id(cli: Cli, data_dir: Path) -> None:
    shop = create_shop(cli)
    second = json.loads(ok(cli("keys", "create", "--shop", shop["domain"], "--json")).stdout)
    ok(cli("keys", "revoke", "--shop", shop["domain"], shop["api_key"]))
    assert principal(data_dir, shop["api_key"]) is None
    assert principal(data_dir, second["api_key"]) is not None, "only that key is revoked"
    revoked = ok(cli("keys", "revoke", "--shop", shop["domain"], second["key_id"]))
    assert second["key_id"] in revoked.output
    assert principal(data_dir, second["api_key"]) is None
    rows = json.loads(ok(cli("keys", "list", "--shop", shop["domain"], "--json")).stdout)
    assert all(r["revoked_at"] for r in rows)
    ok(cli("keys", "revoke", "--shop", shop["domain"], second["key_id"]))  # twice is harmless


def test_keys_revoke_unknown_key_fails_clearly(cli: Cli) -> None:
    shop = create_shop(cli)
    result = cli("keys", "revoke", "--shop", shop["domain"], "no-such-key-id")
    assert result.exit_code == 1
    assert f"shop {shop['domain']} has no key no-such-key-id" in said(result)


def test_keys_revoke_cannot_reach_another_shops_key(cli: Cli, data_dir: Path) -> None:
    mine, theirs = create_shop(cli, "mine"), create_shop(cli, "theirs")
    result = cli("keys", "revoke", "--shop", mine["domain"], theirs["api_key"])
    assert result.exit_code == 1
    assert principal(data_dir, theirs["api_key"]) is not None


@pytest.mark.parametrize("command", [("keys", "create"), ("keys", "list"), ("keys", "revoke", "some-key")])
def test_keys_commands_name_an_unknown_shop(cli: Cli, command: tuple[str, ...]) -> None:
    result = cli(*command, "--shop", "ghost.myshopify.com")
    assert result.exit_code == 1
    assert "no shop ghost.myshopify.com" in said(result)


# --- db upgrade ------------------------------------------------------------------------------


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_db_upgrade_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    db_file = tmp_path / "elsewhere" / "openstoq.db"
    runner = CliRunner(
        env={"OPENSTOQ_DATA_DIR": str(tmp_path / "data"), "OPENSTOQ_DATABASE_URL": f"sqlite:///{db_file}"}
    )
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert "up to date" in said(first)
    assert {"alembic_version", "shops", "api_keys", "offers"} <= tables(db_file)
    with sqlite3.connect(db_file) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0, again.output
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == version


def test_db_upgrade_in_the_data_dir(cli: Cli, data_dir: Path) -> None:
    ok(cli("db", "upgrade"))
    assert "api_keys" in tables(data_dir / "openstoq.db")


def test_db_upgrade_on_an_unreachable_database_fails_clearly(tmp_path: Path) -> None:
    runner = CliRunner(
        env={"OPENSTOQ_DATA_DIR": str(tmp_path), "OPENSTOQ_DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/none"}
    )
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "could not migrate the database" in said(result)
    assert "OPENSTOQ_DATABASE_URL" in said(result)
    assert "secret" not in result.output, "the password is not printed"
