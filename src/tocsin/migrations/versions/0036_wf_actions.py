"""wf-actions: workflows' emails and webhook calls, their signing secret, comms messages

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 12:00:00.000000

`workflow_deliveries`: one email or webhook call a workflow's action asked for, sent after
commit by the one delivery module. `workflows.signing_salt`: with the server's secret key,
the secret signing a workflow's webhook calls (empty on existing rows: their secret is then
derived from the key and the workflow's id alone, until rotated). `comms_deliveries.body`: the
text of a message that is not an update (a workflow's post to a channel or to stakeholders).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workflows") as batch:
        batch.add_column(
            sa.Column("signing_salt", sa.String(length=64), server_default="", nullable=False)
        )
    with op.batch_alter_table("comms_deliveries") as batch:
        batch.add_column(sa.Column("body", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "workflow_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("sent_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_workflow_deliveries_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["workflow_runs.id"],
            name=op.f("fk_workflow_deliveries_run_id_workflow_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_deliveries_workflow_id_workflows"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_deliveries")),
        sa.UniqueConstraint("uuid", name=op.f("uq_workflow_deliveries_uuid")),
    )
    op.create_index(
        op.f("ix_workflow_deliveries_run_id"), "workflow_deliveries", ["run_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_workflow_deliveries_run_id"), table_name="workflow_deliveries")
    op.drop_table("workflow_deliveries")
    with op.batch_alter_table("comms_deliveries") as batch:
        batch.drop_column("body")
    with op.batch_alter_table("workflows") as batch:
        batch.drop_column("signing_salt")
