"""roles done as the seeds describe: several holders, the roster, role notices

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 06:00:00.000000

A role may now have several holders on one incident (`incident_roles.multiple`, true for the
roles PagerDuty's pages say can have several people: deputies, scribes, subject matter
experts). An assignment is unique per (incident, role, user) instead of (incident, role): the
existing assignments keep their rows as they are, each still one holder. New tables: the
organisation's roster (each role's primary and backup) and the role notices (the emails
telling people they were given a role).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The defaults' roles that allow several holders, as they stood at this migration.
_MULTIPLE = ("deputy", "scribe", "sme")


def upgrade() -> None:
    # In place, not a batch: on SQLite a batch may recreate incident_roles, and dropping it
    # would cascade to every assignment.
    op.add_column(
        "incident_roles",
        sa.Column("multiple", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    roles = sa.table("incident_roles", sa.column("slug", sa.String), sa.column("multiple"))
    op.execute(roles.update().where(roles.c.slug.in_(_MULTIPLE)).values(multiple=True))
    with op.batch_alter_table("incident_role_assignments", schema=None) as batch_op:
        batch_op.drop_constraint("uq_incident_role_assignments_incident_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_incident_role_assignments_incident_id", ["incident_id", "role_id", "user_id"]
        )
    op.create_table(
        "roster_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("primary_user_id", sa.Integer(), nullable=True),
        sa.Column("primary_schedule_id", sa.Integer(), nullable=True),
        sa.Column("backup_user_id", sa.Integer(), nullable=True),
        sa.Column("backup_schedule_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["incident_roles.id"],
            name=op.f("fk_roster_entries_role_id_incident_roles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["primary_user_id"],
            ["users.id"],
            name=op.f("fk_roster_entries_primary_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["primary_schedule_id"],
            ["schedules.id"],
            name=op.f("fk_roster_entries_primary_schedule_id_schedules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["backup_user_id"],
            ["users.id"],
            name=op.f("fk_roster_entries_backup_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["backup_schedule_id"],
            ["schedules.id"],
            name=op.f("fk_roster_entries_backup_schedule_id_schedules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_entries")),
        sa.UniqueConstraint("role_id", name=op.f("uq_roster_entries_role_id")),
    )
    op.create_table(
        "role_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("sent_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_role_notices_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["incident_roles.id"],
            name=op.f("fk_role_notices_role_id_incident_roles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_role_notices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"],
            ["users.id"],
            name=op.f("fk_role_notices_assigned_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_notices")),
    )
    with op.batch_alter_table("role_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_role_notices_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("role_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_notices_incident_id"))
    op.drop_table("role_notices")
    op.drop_table("roster_entries")
    # Back to one holder per role: the earliest assignment of each role stays.
    op.execute(
        "DELETE FROM incident_role_assignments WHERE id NOT IN ("
        "SELECT MIN(id) FROM incident_role_assignments GROUP BY incident_id, role_id)"
    )
    with op.batch_alter_table("incident_role_assignments", schema=None) as batch_op:
        batch_op.drop_constraint("uq_incident_role_assignments_incident_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_incident_role_assignments_incident_id", ["incident_id", "role_id"]
        )
    # Not a batch (which on SQLite recreates the table): dropping incident_roles would
    # cascade to every assignment and type. Both backends drop a column in place.
    op.execute("ALTER TABLE incident_roles DROP COLUMN multiple")
