"""job engine: idempotency keys, start times, probe runs

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("started_at", tocsin.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_jobs_key", ["key"], unique=True)
    op.create_table(
        "job_probe_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("queued_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ran_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_probe_runs")),
    )
    with op.batch_alter_table("job_probe_runs", schema=None) as batch_op:
        batch_op.create_index("ix_job_probe_runs_token", ["token"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_probe_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_probe_runs_token")
    op.drop_table("job_probe_runs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_key")
        batch_op.drop_column("started_at")
        batch_op.drop_column("key")
