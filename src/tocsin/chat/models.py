"""Chat connections, the people linked to them, and each incident's channel in each."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import User
from tocsin.db import Base, utcnow
from tocsin.incidents.models import Incident


class ChannelState(enum.StrEnum):
    creating = "creating"  # a job will create it (or is retrying after an error)
    open = "open"
    archiving = "archiving"  # the incident closed; a job archives it once due
    archived = "archived"
    failed = "failed"  # creating it gave up; `error` says why


class ChatConnection(Base):
    """One chat workspace or server an admin connected, and how incidents use it."""

    __tablename__ = "chat_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    vendor: Mapped[str] = mapped_column(String(16))  # slack, mattermost, matrix
    # Slack's API root, the Mattermost server, the Matrix homeserver.
    base_url: Mapped[str] = mapped_column(String(2048))
    # Slack workspace id, Mattermost team id, Matrix server name.
    team: Mapped[str] = mapped_column(String(255), default="")
    bot_user_id: Mapped[str] = mapped_column(String(255), default="")
    # The bot's credentials as one JSON object, a Fernet token (crypto.Vault, purpose
    # "chat"); never shown back.
    secrets_encrypted: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    # The severities (by id) whose incidents get a channel; empty: none do.
    channel_severity_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # How a channel is named: {number}, {reference}, {title}, {date} (UTC, yyyymmdd).
    naming: Mapped[str] = mapped_column(String(120), default="inc-{number}-{title}")
    # Minutes after an incident closes before its channel is archived.
    archive_after_minutes: Mapped[int] = mapped_column(default=1440)
    # Where new incidents are announced (a channel id), empty for nowhere.
    announce_channel: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatIdentity(Base):
    """A chat user linked to a Tocsin user: actions from chat are done as them."""

    __tablename__ = "chat_identities"
    __table_args__ = (
        UniqueConstraint("connection_id", "chat_user_id"),
        Index("ix_chat_identities_user", "user_id", "connection_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("chat_connections.id", ondelete="CASCADE")
    )
    chat_user_id: Mapped[str] = mapped_column(String(255))
    # The chat's name for them (Mattermost's and Slack's username), when it said: commands
    # name people as @username there.
    chat_user_name: Mapped[str] = mapped_column(String(255), default="")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    via: Mapped[str] = mapped_column(String(16))  # email, link
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class ChatLinkRequest(Base):
    """A one-time link a chat user opens, signed in to Tocsin, to link the two."""

    __tablename__ = "chat_link_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("chat_connections.id", ondelete="CASCADE")
    )
    chat_user_id: Mapped[str] = mapped_column(String(255))
    chat_user_name: Mapped[str] = mapped_column(String(255), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    connection: Mapped[ChatConnection] = relationship(lazy="joined")


class ChatChannel(Base):
    """An incident's channel (room) in one connection, and the state of its upkeep."""

    __tablename__ = "chat_channels"
    __table_args__ = (
        UniqueConstraint("incident_id", "connection_id"),
        Index("ix_chat_channels_remote", "connection_id", "remote_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("chat_connections.id", ondelete="CASCADE")
    )
    state: Mapped[str] = mapped_column(String(16), default=ChannelState.creating.value)
    remote_id: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(120), default="")
    url: Mapped[str] = mapped_column(String(2048), default="")
    private: Mapped[bool] = mapped_column(default=False)
    # The live header message, and the summary pinned beside it.
    header_message_id: Mapped[str] = mapped_column(String(255), default="")
    summary_message_id: Mapped[str] = mapped_column(String(255), default="")
    # The header as last posted (a hash of its rendering): edited only when it changes.
    header_digest: Mapped[str] = mapped_column(String(64), default="")
    # Chat user ids invited so far.
    invited: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(default=0)
    archive_due_at: Mapped[datetime | None] = mapped_column(default=None)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    # While an upkeep job talks to the chat service: another waits until then (two would
    # create the channel twice).
    busy_until: Mapped[datetime | None] = mapped_column(default=None)
    # Mattermost pushes no reactions or edits: the last time its changes were read.
    polled_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship()
    connection: Mapped[ChatConnection] = relationship(lazy="joined")


class ChatPin(Base):
    """A chat message put on an incident's timeline (by 📌 or `pin`), kept in step with
    the message's edits and deletion."""

    __tablename__ = "chat_pins"
    __table_args__ = (UniqueConstraint("connection_id", "channel_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("chat_connections.id", ondelete="CASCADE")
    )
    channel_id: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(255))
    # Matrix: the reaction that pinned it, so that redacting the reaction unpins it.
    reaction_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    timeline_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("timeline_entries.id", ondelete="SET NULL"), default=None
    )
    author_chat_id: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatConversation(Base):
    """A question Tocsin is asking a person in turn (declaring on Matrix, which has no
    forms): the answers so far and the field asked next."""

    __tablename__ = "chat_conversations"
    __table_args__ = (UniqueConstraint("connection_id", "channel_id", "chat_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("chat_connections.id", ondelete="CASCADE")
    )
    channel_id: Mapped[str] = mapped_column(String(255))
    chat_user_id: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(32))  # declare
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    asking: Mapped[str] = mapped_column(String(64), default="")
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatDelivery(Base):
    """A request pushed by a chat service, by its own id (a Matrix transaction, a Slack
    event id), so that a service retrying it is not acted on twice."""

    __tablename__ = "chat_deliveries"
    __table_args__ = (UniqueConstraint("connection_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("chat_connections.id", ondelete="CASCADE")
    )
    delivery_id: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
