"""delivery records: every kind of delivery keeps its per-target results in `results`

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 21:00:00.000000

Pages, shift notices, stakeholder updates and subscriber deliveries are sent by one delivery
module (notify/delivery.py), which reads and writes the same columns on each: state,
attempts, detail, results, sent_at, updated_at.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("notifications", "status_page_subscriber_deliveries"):
        op.add_column(table, sa.Column("results", sa.JSON(), nullable=False, server_default="{}"))
    op.execute("ALTER TABLE shift_notices RENAME COLUMN deliveries TO results")
    op.add_column(
        "shift_notices",
        sa.Column(
            "updated_at",
            tocsin.db.UTCDateTime(timezone=True),
            nullable=False,
            server_default=sa.text("CURRENT_TIMESTAMP"),
        ),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE shift_notices DROP COLUMN updated_at")
    op.execute("ALTER TABLE shift_notices RENAME COLUMN results TO deliveries")
    for table in ("notifications", "status_page_subscriber_deliveries"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN results")
