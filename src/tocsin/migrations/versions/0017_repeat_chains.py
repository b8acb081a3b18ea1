"""repeat chains: repeats the SQLite event writer settles leave the index of alerts' events

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24 07:00:00.000000

Adding nullable columns is instant on SQLite and PostgreSQL; existing events keep their
alert_id (and their place in ix_events_alert).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("repeat_of", sa.Integer(), nullable=True))
    op.add_column("events", sa.Column("previous_repeat", sa.Integer(), nullable=True))
    op.add_column("alerts", sa.Column("last_repeat_id", sa.Integer(), nullable=True))
    op.add_column("alert_tallies", sa.Column("last_repeat_id", sa.Integer(), nullable=True))
    op.create_table(
        "repeat_marks",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_repeat_marks_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "event_id", name=op.f("pk_repeat_marks")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    # The chained repeats go back into the index of their alert's events (those of an alert
    # deleted meanwhile lose their link, as ON DELETE SET NULL would have done).
    op.execute(
        "UPDATE events SET alert_id = repeat_of WHERE repeat_of IS NOT NULL "
        "AND repeat_of IN (SELECT id FROM alerts)"
    )
    op.drop_table("repeat_marks")
    for table, column in (
        ("alert_tallies", "last_repeat_id"),
        ("alerts", "last_repeat_id"),
        ("events", "previous_repeat"),
        ("events", "repeat_of"),
    ):
        # ALTER TABLE ... DROP COLUMN: SQLite has it since 3.35, and none of these columns is
        # indexed or constrained, so no table is rebuilt.
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
