"""alert-noise-indexes: the indexes the Alert noise figures of Insights read through

Revision ID: 0039
Revises: 0036
Create Date: 2026-12-07 15:30:00.000000

`alerts(created_at)`: the alerts of a period; `alerts(service_id, created_at)`: those of a
team's services or one service; `alerts(integration_id, dedup_key, created_at)`: the alert
before an alert of the same key (flapping). `ix_events_held`: only the trigger events a
suppression rule dropped or downgraded or a maintenance window held, by time; the other
events (nearly all of them) never enter it, so ingestion pays for it only on those.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = "outcome IN ('suppressed', 'maintenance') OR rule_id IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_alerts_created", "alerts", ["created_at"])
    op.create_index("ix_alerts_service_created", "alerts", ["service_id", "created_at"])
    op.create_index(
        "ix_alerts_key_created", "alerts", ["integration_id", "dedup_key", "created_at"]
    )
    op.create_index(
        "ix_events_held",
        "events",
        ["received_at"],
        sqlite_where=sa.text(HELD),
        postgresql_where=sa.text(HELD),
    )


def downgrade() -> None:
    op.drop_index("ix_events_held", table_name="events")
    op.drop_index("ix_alerts_key_created", table_name="alerts")
    op.drop_index("ix_alerts_service_created", table_name="alerts")
    op.drop_index("ix_alerts_created", table_name="alerts")
