"""detected-always: every incident has a detection time, indexed; a service's incidents indexed

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07 15:50:00.000000

An incident declared without one was detected when it was declared, which is what `declare`
has always set; only a time cleared by an edit was ever missing, and it gets the declaration's
time here. Insights chooses an incident's period by its detection time, through the index,
and a team's or a service's incidents through `ix_incident_services_service`.
"""

from collections.abc import Sequence

from alembic import op

import tocsin.db

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE incidents SET detected_at = created_at WHERE detected_at IS NULL")
    with op.batch_alter_table("incidents") as batch:
        batch.alter_column(
            "detected_at", existing_type=tocsin.db.UTCDateTime(timezone=True), nullable=False
        )
        batch.create_index("ix_incidents_detected_at", ["detected_at"], unique=False)
    op.create_index(
        "ix_incident_services_service", "incident_services", ["service_id", "incident_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_incident_services_service", table_name="incident_services")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_detected_at")
        batch.alter_column(
            "detected_at", existing_type=tocsin.db.UTCDateTime(timezone=True), nullable=True
        )
