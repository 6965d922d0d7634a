"""All configuration, read from the environment (``OPENSTOQ_*``)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BASE_PATH = "/api/v2/external"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENSTOQ_", extra="ignore")

    data_dir: Path = Field(Path(".openstoq"), description="Where the embedded SQLite file and exports live.")
    database_url: str | None = Field(None, description="postgresql://... to run on PostgreSQL; default SQLite.")
    redis_url: str | None = Field(None, description="redis://... to share rate limits across processes.")

    rate_limit_points: int = Field(360, ge=1, description="Points per shop per window.")
    rate_limit_window_seconds: int = Field(60, ge=1)
    read_cost: int = Field(1, ge=0)
    write_cost: int = Field(2, ge=0)

    public_url: str | None = Field(None, description="Absolute base URL for documents; default from the request.")
    log_level: str = "info"

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL: aiosqlite by default, asyncpg for postgresql:// URLs."""
        url = self.database_url
        if not url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'openstoq.db').resolve()}"
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        if url.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + url[len("sqlite://") :]
        return url

    @property
    def base_url(self) -> str:
        """Where the API lives, as documents print it: absolute when ``public_url`` is set."""
        return (self.public_url or "").rstrip("/") + BASE_PATH

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def rate_limit_storage_uri(self) -> str:
        if not self.redis_url:
            return "async+memory://"
        scheme, _, rest = self.redis_url.partition("://")
        return f"async+{scheme}://{rest}"
