"""events: partial index of pending events by (integration, dedup key), for settling repeats

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 20:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_pending_key",
            ["integration_id", "dedup_key"],
            unique=False,
            sqlite_where=sa.text("outcome = 'pending'"),
            postgresql_where=sa.text("outcome = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_events_pending_key",
            sqlite_where=sa.text("outcome = 'pending'"),
            postgresql_where=sa.text("outcome = 'pending'"),
        )
