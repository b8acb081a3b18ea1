"""alert-quiet-seconds: how long a key was quiet before each alert; narrower noise indexes

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07 18:10:00.000000

`alerts.quiet_seconds`: whole seconds (rounded up) from the resolve of the previous alert of
the same integration and dedup key to the alert's creation, NULL for a key's first alert.
Ingestion sets it when it creates an alert (the previous one has resolved by then, and a
resolved alert never reopens, so it never changes); here it is computed for the alerts that
exist. Flapping is then a count of short ones, where Insights had to sort a period's alerts
by key and compare each with the one before.

The two covering indexes of migration 0039 held `event_count`, `acknowledged_at` and
`resolved_at`, so every deduplicated repeat, acknowledgement and resolve rewrote two entries
of each on the ingestion path. They give way to `ix_alerts_created` and
`ix_alerts_service_created`, of columns fixed when an alert is created (its time, service
and incident), and `ix_alerts_key_created` loses `resolved_at` for the same reason.
`ix_events_held` (only the events a suppression rule or maintenance window held) now carries
what the figures read of them, so that they are counted from the index alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTED = [
    "integration_id",
    "dedup_key",
    "incident_id",
    "event_count",
    "acknowledged_at",
    "resolved_at",
]

HELD = "outcome IN ('suppressed', 'maintenance') OR rule_id IS NOT NULL"
HELD_READ = ["received_at", "service_id", "outcome", "rule_id", "maintenance_window_id", "alert_id"]

# The previous alert's resolve, by key in creation order.
PREVIOUS = (
    "SELECT id, created_at, lag(resolved_at) OVER (PARTITION BY integration_id, dedup_key"
    " ORDER BY created_at, id) AS previous FROM alerts"
)

# SQLite stores times as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: whole seconds from strftime of
# the time without its fraction (SQLite's date functions round to milliseconds, so .9996 would
# count as the next second), plus one when the microseconds leave a part of a second (rounded
# up, as ingestion does).
SQLITE = f"""
UPDATE alerts SET quiet_seconds = (
    CAST(strftime('%s', substr(p.created_at, 1, 19)) AS INTEGER)
    - CAST(strftime('%s', substr(p.previous, 1, 19)) AS INTEGER)
    + (CAST(substr(p.created_at, 21, 6) AS INTEGER) > CAST(substr(p.previous, 21, 6) AS INTEGER))
)
FROM ({PREVIOUS}) AS p
WHERE alerts.id = p.id AND p.previous IS NOT NULL
"""

POSTGRESQL = f"""
UPDATE alerts SET quiet_seconds = ceil(extract(epoch FROM p.created_at - p.previous))::integer
FROM ({PREVIOUS}) AS p
WHERE alerts.id = p.id AND p.previous IS NOT NULL
"""


def upgrade() -> None:
    op.add_column("alerts", sa.Column("quiet_seconds", sa.Integer(), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(POSTGRESQL if postgres else SQLITE)
    op.drop_index("ix_alerts_noise", table_name="alerts")
    op.drop_index("ix_alerts_service_noise", table_name="alerts")
    op.drop_index("ix_alerts_key_created", table_name="alerts")
    op.create_index("ix_alerts_created", "alerts", ["created_at", "service_id", "incident_id"])
    op.create_index(
        "ix_alerts_service_created", "alerts", ["service_id", "created_at", "incident_id"]
    )
    op.create_index(
        "ix_alerts_key_created", "alerts", ["integration_id", "dedup_key", "created_at"]
    )
    _held_index(HELD_READ)


def _held_index(columns: list[str]) -> None:
    op.drop_index("ix_events_held", table_name="events")
    op.create_index(
        "ix_events_held",
        "events",
        columns,
        sqlite_where=sa.text(HELD),
        postgresql_where=sa.text(HELD),
    )


def downgrade() -> None:
    _held_index(["received_at"])
    op.drop_index("ix_alerts_key_created", table_name="alerts")
    op.drop_index("ix_alerts_service_created", table_name="alerts")
    op.drop_index("ix_alerts_created", table_name="alerts")
    op.create_index(
        "ix_alerts_key_created",
        "alerts",
        ["integration_id", "dedup_key", "created_at", "resolved_at"],
    )
    op.create_index("ix_alerts_service_noise", "alerts", ["service_id", "created_at", *COUNTED])
    op.create_index("ix_alerts_noise", "alerts", ["created_at", "service_id", *COUNTED])
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("quiet_seconds")
