"""timezone-changes: the record of people's time zone changes; pages and escalations by time

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 15:00:00.000000

`user_timezone_changes`: each change of a person's time zone (old and new zone, when), written
by `catalog.service.change_timezone`, so that on-call load judges a page's hours in the zone
its person had when paged. Existing people have no history: their current zone holds for
everything before. `ix_notifications_created` and `ix_escalation_steps_at`: the pages and
the escalations of a period, read by Insights → On-call load without scanning either table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0038"
# The lead renumbers at merge: 0037 (response targets) comes in between.
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_timezone_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("old_timezone", sa.String(length=64), nullable=False),
        sa.Column("new_timezone", sa.String(length=64), nullable=False),
        sa.Column("changed_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_timezone_changes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_timezone_changes")),
    )
    op.create_index(
        "ix_user_timezone_changes_user",
        "user_timezone_changes",
        ["user_id", "changed_at"],
        unique=False,
    )
    op.create_index("ix_notifications_created", "notifications", ["created_at"], unique=False)
    op.create_index("ix_escalation_steps_at", "escalation_steps", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_escalation_steps_at", table_name="escalation_steps")
    op.drop_index("ix_notifications_created", table_name="notifications")
    op.drop_index("ix_user_timezone_changes_user", table_name="user_timezone_changes")
    op.drop_table("user_timezone_changes")
