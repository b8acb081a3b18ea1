"""escalation runs that need their own acknowledgement

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 13:00:00.000000

Paging used to stop when the incident's acknowledged_at was at or after the run's start, so a
backdated acknowledgement let paging go on. Runs now stop on the incident's status, unless
they were started by hand on an incident already acknowledged: the open runs of that kind
are marked here, so that they still wait for their own acknowledgement.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("escalation_runs") as batch_op:
        batch_op.add_column(
            sa.Column(
                "needs_own_acknowledgement",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    op.execute(
        "UPDATE escalation_runs SET needs_own_acknowledgement = true "
        "WHERE started_by_id IS NOT NULL AND state IN ('active', 'waiting') AND EXISTS ("
        "SELECT 1 FROM incidents WHERE incidents.id = escalation_runs.incident_id "
        "AND incidents.acknowledged_at IS NOT NULL "
        "AND incidents.acknowledged_at <= escalation_runs.started_at)"
    )


def downgrade() -> None:
    with op.batch_alter_table("escalation_runs") as batch_op:
        batch_op.drop_column("needs_own_acknowledgement")
