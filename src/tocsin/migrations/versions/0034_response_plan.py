"""the response plan's own text: what counts as an incident, the incident values

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 07:00:00.000000

One new table, `plan_settings`, holding at most one row: the Markdown an admin writes for the
response plan's "what counts as an incident" and "incident values". Everything else in the
plan is read from the other domains' configuration.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plan_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("what_is_an_incident", sa.Text(), nullable=False),
        sa.Column("incident_values", sa.Text(), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_settings")),
    )


def downgrade() -> None:
    op.drop_table("plan_settings")
