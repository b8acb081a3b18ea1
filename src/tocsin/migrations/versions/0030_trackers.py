"""trackers: issue tracker connections and the link between a follow-up and its issue

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 05:07:05.896756

Two new, empty tables: instant on SQLite and PostgreSQL. (Numbered 0030 while 0028 and 0029
are written elsewhere; renumbered at merge.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracker_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.String(length=2048), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("issue_type", sa.String(length=60), nullable=False),
        sa.Column("credential_encrypted", sa.Text(), nullable=False),
        sa.Column("webhook_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_connections")),
        sa.UniqueConstraint("name", name=op.f("uq_tracker_connections_name")),
    )
    op.create_table(
        "tracker_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_item_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("remote_state", sa.String(length=120), nullable=False),
        sa.Column("remote_closed", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("synced_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_item_id"],
            ["action_items.id"],
            name=op.f("fk_tracker_links_action_item_id_action_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["tracker_connections.id"],
            name=op.f("fk_tracker_links_connection_id_tracker_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_links")),
        sa.UniqueConstraint("action_item_id", name=op.f("uq_tracker_links_action_item_id")),
    )
    with op.batch_alter_table("tracker_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tracker_links_connection_key", ["connection_id", "key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tracker_links", schema=None) as batch_op:
        batch_op.drop_index("ix_tracker_links_connection_key")

    op.drop_table("tracker_links")
    op.drop_table("tracker_connections")
