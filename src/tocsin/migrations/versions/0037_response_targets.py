"""response-targets: when each incident's first response is due, and its reminder emails

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 15:30:00.000000

`incidents.response_due_at`: when the first response (acknowledgement) is due under the
severity's response target, fixed when set. Existing incidents with a severity that has a
target get theirs from detection (else creation) as the severity stands now: minutes added,
or for "next business day" the end of the next weekday, Monday to Friday in UTC (this
migration does not read the organisation's calendar). `target_reminders`: the reminder emails,
as delivery records.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("response_due_at", tocsin.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "target_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("due_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
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
            name=op.f("fk_target_reminders_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_target_reminders_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target_reminders")),
        sa.UniqueConstraint(
            "incident_id",
            "user_id",
            "due_at",
            name=op.f("uq_target_reminders_incident_id"),
        ),
    )
    op.create_index(
        op.f("ix_target_reminders_incident_id"), "target_reminders", ["incident_id"], unique=False
    )
    _backfill()


def _end_of_next_weekday(moment: datetime) -> datetime:
    day = moment.astimezone(UTC).date()
    offset = 1
    while (day.weekday() + offset) % 7 >= 5:
        offset += 1
    return datetime.combine(day + timedelta(days=offset + 1), time(0), tzinfo=UTC)


def _backfill() -> None:
    conn = op.get_bind()
    when = tocsin.db.UTCDateTime(timezone=True)
    severities = sa.table(
        "severities",
        sa.column("id", sa.Integer),
        sa.column("response_target_minutes", sa.Integer),
        sa.column("response_next_business_day", sa.Boolean),
    )
    incidents = sa.table(
        "incidents",
        sa.column("id", sa.Integer),
        sa.column("severity_id", sa.Integer),
        sa.column("detected_at", when),
        sa.column("created_at", when),
        sa.column("response_due_at", when),
    )
    rows = conn.execute(
        sa.select(
            incidents.c.id,
            incidents.c.detected_at,
            incidents.c.created_at,
            severities.c.response_target_minutes,
            severities.c.response_next_business_day,
        ).join(severities, severities.c.id == incidents.c.severity_id)
    ).all()
    for row in rows:
        start: datetime = row.detected_at or row.created_at
        if row.response_next_business_day:
            due = _end_of_next_weekday(start)
        elif row.response_target_minutes is not None:
            due = start + timedelta(minutes=int(row.response_target_minutes))
        else:
            continue
        conn.execute(
            sa.update(incidents).where(incidents.c.id == row.id).values(response_due_at=due)
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_target_reminders_incident_id"), table_name="target_reminders")
    op.drop_table("target_reminders")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("response_due_at")
