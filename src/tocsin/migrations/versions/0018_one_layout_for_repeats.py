"""one layout for repeats: every event names its alert in alert_id; counts live on the alert

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 20:00:00.000000

The SQLite event writer process kept repeats in two more layouts (alert_tallies for counts
not yet added to their alert, chains through events.repeat_of for repeats outside the index
of alerts' events). This folds both back: the tallies are added to their alerts, chained
repeats get their alert_id, and the tables, columns and the index only that writer used go.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Counts not yet added to their alerts (alert_tallies rows of deleted alerts are dropped).
    op.execute(
        "UPDATE alerts SET event_count = event_count + "
        "(SELECT SUM(t.events) FROM alert_tallies t WHERE t.alert_id = alerts.id), "
        "last_event_at = (SELECT CASE WHEN MAX(t.last_event_at) > alerts.last_event_at "
        "THEN MAX(t.last_event_at) ELSE alerts.last_event_at END "
        "FROM alert_tallies t WHERE t.alert_id = alerts.id) "
        "WHERE id IN (SELECT alert_id FROM alert_tallies)"
    )
    op.drop_table("alert_tallies")
    # Chained repeats join the index of their alert's events (those of an alert deleted
    # meanwhile lose their link, as ON DELETE SET NULL would have done).
    op.execute(
        "UPDATE events SET alert_id = repeat_of WHERE repeat_of IS NOT NULL "
        "AND repeat_of IN (SELECT id FROM alerts)"
    )
    op.drop_table("repeat_marks")
    for table, column in (
        ("alerts", "last_repeat_id"),
        ("events", "previous_repeat"),
        ("events", "repeat_of"),
    ):
        # SQLite has DROP COLUMN since 3.35; none of these is indexed or constrained.
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_events_pending_key",
            sqlite_where=sa.text("outcome = 'pending'"),
            postgresql_where=sa.text("outcome = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_pending_key",
            ["integration_id", "dedup_key"],
            unique=False,
            sqlite_where=sa.text("outcome = 'pending'"),
            postgresql_where=sa.text("outcome = 'pending'"),
        )
    op.add_column("events", sa.Column("repeat_of", sa.Integer(), nullable=True))
    op.add_column("events", sa.Column("previous_repeat", sa.Integer(), nullable=True))
    op.add_column("alerts", sa.Column("last_repeat_id", sa.Integer(), nullable=True))
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
    op.create_table(
        "alert_tallies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("last_event_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_repeat_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_tallies")),
    )
