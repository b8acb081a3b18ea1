"""private incidents: members (an allow-list) and a codename

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-07 23:45:00.000000

`incident_members` lists who may see a private incident (the `restricted` column, which keeps
its name); `incidents.codename` is what everyone else is told of it. Every incident's
declarer and role holders become members, as they would have been had the table always
existed. People paged for a private incident and its stakeholders are no longer let in by that
alone (docs/private-incidents.md): the commander adds those who need it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0050"
down_revision: str | None = "0049"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("codename", sa.String(length=80), server_default="", nullable=False)
        )
    op.create_table(
        "incident_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("added_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["users.id"],
            name=op.f("fk_incident_members_added_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_members_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_incident_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_members")),
        sa.UniqueConstraint("incident_id", "user_id", name=op.f("uq_incident_members_incident_id")),
    )
    op.create_index(
        "ix_incident_members_user", "incident_members", ["user_id", "incident_id"], unique=False
    )
    # Declarers and role holders, once each; when they became so is as good as now.
    op.execute(
        """
        INSERT INTO incident_members (incident_id, user_id, added_by_id, added_at)
        SELECT incident_id, user_id, NULL, CURRENT_TIMESTAMP FROM (
            SELECT id AS incident_id, created_by_id AS user_id FROM incidents
            WHERE created_by_id IS NOT NULL
            UNION
            SELECT incident_id, user_id FROM incident_role_assignments
        ) AS people
        """
    )


def downgrade() -> None:
    op.drop_index("ix_incident_members_user", table_name="incident_members")
    op.drop_table("incident_members")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("codename")
