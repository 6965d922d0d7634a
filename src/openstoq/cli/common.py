"""What every command shares: the console, failing with a message that says what to do, migrating
the database, and running work on a runtime built from the features like every other process's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console

from openstoq.composition import build_runtime
from openstoq.db.migrate import upgrade
from openstoq.runtime import Runtime
from openstoq.settings import Settings
from openstoq.shops import ShopError

console = Console(stderr=True)
out = Console()
T = TypeVar("T")


def fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


def where(settings: Settings) -> str:
    """The database, as a person recognises it (never with a password)."""
    if settings.sqlite_path is not None:
        return f"SQLite at {settings.sqlite_path}"
    return "PostgreSQL at " + settings.sqlalchemy_url.split("@")[-1]


def migrate(settings: Settings) -> None:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(settings.sqlalchemy_url)
    except Exception as exc:  # a database that cannot be reached: say which and how to fix it
        raise fail(
            f"could not migrate the database ({where(settings)}): {exc}\n"
            "Check OPENSTOQ_DATABASE_URL (or unset it to use the embedded SQLite file)."
        ) from None


def migrated() -> Settings:
    settings = Settings()
    migrate(settings)
    return settings


def run(work: Callable[[Runtime], Awaitable[T]], settings: Settings | None = None) -> T:
    """Migrate, then run ``work`` on a runtime, turning ShopErrors into a clear exit."""
    settings = settings or migrated()

    async def main() -> T:
        runtime = build_runtime(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except ShopError as exc:
        raise fail(str(exc)) from None
