"""alert-noise-indexes: the indexes the Alert noise figures of Insights read through

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07 15:30:00.000000

`ix_alerts_noise` (by creation) and `ix_alerts_service_noise` (by service, then creation):
the alerts of a period, of all services or of a team's or one service's, holding every column
the figures count so that they are read from the index alone (a period's alerts are spread
over the whole table: reading their rows is what took seconds). `ix_alerts_key_created`: the
alert before an alert of the same key (flapping), with when it resolved.
`ix_alerts_incident_first`: each incident's first alert and its integration, read from the
index alone (incidents opened per source). `ix_events_held`:
only the trigger events a suppression rule dropped or downgraded or a maintenance window held,
by time; the other events (nearly all of them) never enter it, so ingestion pays for it only
on those.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the Alert noise figures read of each alert, after the columns searched.
COUNTED = [
    "integration_id",
    "dedup_key",
    "incident_id",
    "event_count",
    "acknowledged_at",
    "resolved_at",
]
HELD = "outcome IN ('suppressed', 'maintenance') OR rule_id IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_alerts_noise", "alerts", ["created_at", "service_id", *COUNTED])
    op.create_index("ix_alerts_service_noise", "alerts", ["service_id", "created_at", *COUNTED])
    op.create_index(
        "ix_alerts_key_created",
        "alerts",
        ["integration_id", "dedup_key", "created_at", "resolved_at"],
    )
    op.create_index("ix_alerts_incident_first", "alerts", ["incident_id", "id", "integration_id"])
    op.create_index(
        "ix_events_held",
        "events",
        ["received_at"],
        sqlite_where=sa.text(HELD),
        postgresql_where=sa.text(HELD),
    )


def downgrade() -> None:
    op.drop_index("ix_events_held", table_name="events")
    op.drop_index("ix_alerts_incident_first", table_name="alerts")
    op.drop_index("ix_alerts_key_created", table_name="alerts")
    op.drop_index("ix_alerts_service_noise", table_name="alerts")
    op.drop_index("ix_alerts_noise", table_name="alerts")
