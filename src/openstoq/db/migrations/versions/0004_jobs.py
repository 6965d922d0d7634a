"""Jobs: what clients poll (``jobs``), the batch done-markers (``job_batches``) and the live DBOS
executors (``job_executors``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def shop_id(primary_key: bool = True) -> sa.Column[str]:
    fk = sa.ForeignKey("shops.id", ondelete="CASCADE")
    return sa.Column("shop_id", sa.String(36), fk, primary_key=primary_key, nullable=False)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(96), primary_key=True),
        shop_id(primary_key=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("items", JSON, nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("dispatched_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("expires_at", TIME, nullable=True),
    )
    op.create_index("ix_jobs_shop_created", "jobs", ["shop_id", "created_at"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_expires", "jobs", ["expires_at"])
    op.create_table(
        "job_batches",
        shop_id(),
        sa.Column("job_id", sa.String(96), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("batch_no", sa.Integer(), primary_key=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("executor_id", sa.String(128), nullable=False),
        sa.Column("finished_at", TIME, nullable=False),
    )
    op.create_table(
        "job_executors",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("heartbeat_at", TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_executors")
    op.drop_table("job_batches")
    op.drop_index("ix_jobs_expires", table_name="jobs")
    op.drop_index("ix_jobs_status", table_name="jobs")
    op.drop_index("ix_jobs_shop_created", table_name="jobs")
    op.drop_table("jobs")
