"""follow-ups: action items get a priority and tags; the mails that remind of them

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 03:40:00.000000

Two columns with server defaults (existing items become medium priority with no tags) and
one new, empty table of reminder and digest mails: instant on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "action_items",
        sa.Column("priority", sa.String(length=8), nullable=False, server_default="medium"),
    )
    op.add_column(
        "action_items",
        sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"),
    )
    op.create_table(
        "follow_up_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("action_item_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_item_id"],
            ["action_items.id"],
            name=op.f("fk_follow_up_mails_action_item_id_action_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_follow_up_mails_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_follow_up_mails_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up_mails")),
        sa.UniqueConstraint("key", name=op.f("uq_follow_up_mails_key")),
    )
    for column in ("action_item_id", "team_id", "user_id"):
        op.create_index(
            op.f(f"ix_follow_up_mails_{column}"), "follow_up_mails", [column], unique=False
        )


def downgrade() -> None:
    op.drop_table("follow_up_mails")
    # SQLite has DROP COLUMN since 3.35; neither column is indexed nor constrained.
    op.execute("ALTER TABLE action_items DROP COLUMN tags")
    op.execute("ALTER TABLE action_items DROP COLUMN priority")
