"""chat: connections to Slack, Mattermost and Matrix, linked people, incident channels

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07 20:50:24.887923

New tables only: `chat_connections` (credentials encrypted), `chat_identities` and
`chat_link_requests` (people linked), `chat_channels` (an incident's channel in a connection),
`chat_pins` (chat messages on timelines),
`chat_conversations` (questions asked in turn), `chat_deliveries` (pushed requests seen).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tocsin.db

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("vendor", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.String(length=2048), nullable=False),
        sa.Column("team", sa.String(length=255), nullable=False),
        sa.Column("bot_user_id", sa.String(length=255), nullable=False),
        sa.Column("secrets_encrypted", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("channel_severity_ids", sa.JSON(), nullable=False),
        sa.Column("naming", sa.String(length=120), nullable=False),
        sa.Column("archive_after_minutes", sa.Integer(), nullable=False),
        sa.Column("announce_channel", sa.String(length=255), nullable=False),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_connections")),
        sa.UniqueConstraint("name", name=op.f("uq_chat_connections_name")),
    )
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=255), nullable=False),
        sa.Column("chat_user_id", sa.String(length=255), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("asking", sa.String(length=64), nullable=False),
        sa.Column("expires_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["chat_connections.id"],
            name=op.f("fk_chat_conversations_connection_id_chat_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_conversations")),
        sa.UniqueConstraint(
            "connection_id",
            "channel_id",
            "chat_user_id",
            name=op.f("uq_chat_conversations_connection_id"),
        ),
    )
    op.create_table(
        "chat_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=False),
        sa.Column("received_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["chat_connections.id"],
            name=op.f("fk_chat_deliveries_connection_id_chat_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_deliveries")),
        sa.UniqueConstraint(
            "connection_id", "delivery_id", name=op.f("uq_chat_deliveries_connection_id")
        ),
    )
    with op.batch_alter_table("chat_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_deliveries_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "chat_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("chat_user_id", sa.String(length=255), nullable=False),
        sa.Column("chat_user_name", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("linked_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["chat_connections.id"],
            name=op.f("fk_chat_identities_connection_id_chat_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_chat_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_identities")),
        sa.UniqueConstraint(
            "connection_id", "chat_user_id", name=op.f("uq_chat_identities_connection_id")
        ),
    )
    with op.batch_alter_table("chat_identities", schema=None) as batch_op:
        batch_op.create_index("ix_chat_identities_user", ["user_id", "connection_id"], unique=False)

    op.create_table(
        "chat_link_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("chat_user_id", sa.String(length=255), nullable=False),
        sa.Column("chat_user_name", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["chat_connections.id"],
            name=op.f("fk_chat_link_requests_connection_id_chat_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_link_requests")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_chat_link_requests_token_hash")),
    )
    op.create_table(
        "chat_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("remote_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("header_message_id", sa.String(length=255), nullable=False),
        sa.Column("summary_message_id", sa.String(length=255), nullable=False),
        sa.Column("header_digest", sa.String(length=64), nullable=False),
        sa.Column("invited", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("archive_due_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("archived_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("busy_until", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("polled_at", tocsin.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["chat_connections.id"],
            name=op.f("fk_chat_channels_connection_id_chat_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_chat_channels_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_channels")),
        sa.UniqueConstraint(
            "incident_id", "connection_id", name=op.f("uq_chat_channels_incident_id")
        ),
    )
    with op.batch_alter_table("chat_channels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_channels_remote", ["connection_id", "remote_id"], unique=False
        )

    op.create_table(
        "chat_pins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("reaction_id", sa.String(length=255), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("timeline_entry_id", sa.Integer(), nullable=True),
        sa.Column("author_chat_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", tocsin.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["chat_connections.id"],
            name=op.f("fk_chat_pins_connection_id_chat_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_chat_pins_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["timeline_entry_id"],
            ["timeline_entries.id"],
            name=op.f("fk_chat_pins_timeline_entry_id_timeline_entries"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_pins")),
        sa.UniqueConstraint(
            "connection_id", "channel_id", "message_id", name=op.f("uq_chat_pins_connection_id")
        ),
    )
    with op.batch_alter_table("chat_pins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_pins_reaction_id"), ["reaction_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chat_pins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_pins_reaction_id"))

    op.drop_table("chat_pins")

    with op.batch_alter_table("chat_channels", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_channels_remote")

    op.drop_table("chat_channels")
    op.drop_table("chat_link_requests")
    with op.batch_alter_table("chat_identities", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_identities_user")

    op.drop_table("chat_identities")
    with op.batch_alter_table("chat_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_deliveries_received_at"))

    op.drop_table("chat_deliveries")
    op.drop_table("chat_conversations")
    op.drop_table("chat_connections")
