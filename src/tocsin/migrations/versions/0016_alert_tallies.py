"""alert_tallies: repeats the SQLite event writer settled, not yet added to their alerts

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_tallies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("last_event_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_tallies")),
    )


def downgrade() -> None:
    # Add up what is left before the table goes, so that no repeat goes uncounted.
    op.execute(
        "UPDATE alerts SET event_count = event_count + "
        "(SELECT SUM(t.events) FROM alert_tallies t WHERE t.alert_id = alerts.id), "
        "last_event_at = (SELECT CASE WHEN MAX(t.last_event_at) > alerts.last_event_at "
        "THEN MAX(t.last_event_at) ELSE alerts.last_event_at END "
        "FROM alert_tallies t WHERE t.alert_id = alerts.id) "
        "WHERE id IN (SELECT alert_id FROM alert_tallies)"
    )
    op.drop_table("alert_tallies")
