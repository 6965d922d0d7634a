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

    db_pool_size: int = Field(5, ge=1, description="PostgreSQL connections each process keeps open")
    db_max_overflow: int = Field(5, ge=0, description="Extra PostgreSQL connections a process may open under load")

    rate_limit_points: int = Field(360, ge=1, description="Points per shop per window.")
    rate_limit_window_seconds: int = Field(60, ge=1)
    read_cost: int = Field(1, ge=0)
    write_cost: int = Field(2, ge=0)

    public_url: str | None = Field(None, description="Absolute base URL for documents; default from the request.")
    log_level: str = "info"

    # Jobs (bulk actions, exports): DBOS workers, our jobs table, signed downloads.
    secret_key: str | None = Field(
        None,
        description="Signs download links; default: a key generated once into the data dir (set it when "
        "several hosts serve the same exports).",
    )
    dbos_system_database_url: str | None = Field(
        None,
        description="DBOS system database; default: dbos.sqlite in the data dir, or the `dbos` schema of "
        "the PostgreSQL database.",
    )
    executor_id: str | None = Field(
        None,
        description="This worker's DBOS executor id; default: unique per process. Set a stable, unique id "
        "per worker (e.g. a pod name) to recover its in-flight work at once on restart.",
    )
    exports_dir: Path | None = Field(
        None, description="Where finished exports are written; default: exports/ in the data dir."
    )
    job_batch_size: int = Field(100, ge=1, le=1000, description="Items per batch: one durable workflow each.")
    job_worker_concurrency: int = Field(8, ge=1, le=256, description="Batches one worker process runs at once.")
    job_queue_polling_seconds: float = Field(0.05, gt=0, le=10, description="How often a worker polls the queue.")
    job_retention_hours: float = Field(168, gt=0, description="How long a finished job stays readable.")
    export_ttl_hours: float = Field(24, gt=0, description="How long an export's download link and file live.")
    worker_tick_seconds: float = Field(
        5, gt=0, description="Worker heartbeats, undispatched-job sweeps, dead-executor recovery, due schedules."
    )
    executor_dead_after_seconds: float = Field(
        30, gt=0, description="A worker silent this long is dead: its in-flight workflows are recovered elsewhere."
    )
    cleanup_interval_seconds: float = Field(300, gt=0, description="How often expired jobs and exports are deleted.")

    # The outbox: side effects (platform commands, later emails and webhooks) delivered after commit.
    outbox_poll_seconds: float = Field(
        0.2, gt=0, le=60, description="How often workers look for outbox rows to deliver (and retries that are due)."
    )
    outbox_inline_grace_seconds: float = Field(
        10, gt=0, description="How long the drain leaves a row to the process that wrote it and delivers it itself."
    )
    outbox_lease_seconds: float = Field(
        60, gt=0, description="How long a delivery holds its rows; past it, another worker may take them."
    )
    outbox_retry_base_seconds: float = Field(1, gt=0, description="The first retry's delay; doubles each attempt.")
    outbox_retry_max_seconds: float = Field(3600, gt=0, description="The longest delay between two retries.")

    # Email: SMTP when configured, else .eml files in <data dir>/outbox/ (the embedded default).
    smtp_url: str | None = Field(
        None,
        description="smtp://user:pass@host:port (?starttls=1 for STARTTLS), smtps://... for TLS; default: .eml files",
    )
    email_from: str = Field("openstoq <no-reply@localhost>", description="The From address of every email.")

    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="The largest request body an action accepts (413 past it)."
    )

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
    def mail_dir(self) -> Path:
        """Where emails are written as .eml files when no SMTP server is configured."""
        return (self.data_dir / "outbox").resolve()

    @property
    def exports_path(self) -> Path:
        return (self.exports_dir or self.data_dir / "exports").resolve()

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None on PostgreSQL."""
        if not self.is_sqlite:
            return None
        return Path(self.sqlalchemy_url.split(":///", 1)[1].split("?", 1)[0]).resolve()
