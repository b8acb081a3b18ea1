"""ORM models for internal stakeholder communication: the channel registry, the stakeholders
who follow an incident, the people and teams who follow a service (and so become stakeholders
of its incidents), and every delivery of an update (or a reminder) to either."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import Service, Team, User
from tocsin.db import Base, utcnow
from tocsin.definitions.models import IncidentRole, Severity
from tocsin.incidents.models import Incident, StatusUpdate


class Audience(enum.StrEnum):
    internal = "internal"  # staff: internal updates go here
    external = "external"  # customers (or those who speak to them): external updates only


class ChannelKind(enum.StrEnum):
    apprise = "apprise"  # an Apprise URL: Slack, Teams, Mattermost, Discord, Telegram, ntfy…
    email = "email"  # a list address, sent through Tocsin's mail relay
    webhook = "webhook"  # Tocsin's HMAC-signed JSON webhook
    manual = "manual"  # Tocsin cannot post here (a bridge call, an exec briefing): instructions


class Impact(enum.StrEnum):
    any = "any"
    yes = "yes"  # only incidents with customer impact written down
    no = "no"  # only incidents without


class DeliveryPurpose(enum.StrEnum):
    update = "update"  # a status update sent to a channel or a stakeholder
    manual = "manual"  # someone posted to the channel by hand and said so
    reminder = "reminder"  # "a channel is due an update", to the communications lead
    # A message that is not an update (a workflow's post to a channel, its notice to the
    # stakeholders): its text is the delivery's `body`; the incident's status does not move.
    message = "message"


class DeliveryState(enum.StrEnum):
    planned = "planned"  # waiting for its job (or its retry)
    sending = "sending"  # committed before the send starts: no transaction spans the network
    sent = "sent"
    failed = "failed"  # every attempt failed
    skipped = "skipped"  # not sent, on purpose; `detail` says why


comms_channel_severities = Table(
    "comms_channel_severities",
    Base.metadata,
    Column("channel_id", ForeignKey("comms_channels.id", ondelete="CASCADE"), primary_key=True),
    Column("severity_id", ForeignKey("severities.id", ondelete="CASCADE"), primary_key=True),
)

comms_channel_services = Table(
    "comms_channel_services",
    Base.metadata,
    Column("channel_id", ForeignKey("comms_channels.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)

comms_channel_roles = Table(
    "comms_channel_roles",
    Base.metadata,
    Column("channel_id", ForeignKey("comms_channels.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("incident_roles.id", ondelete="CASCADE"), primary_key=True),
)


class CommsChannel(Base):
    """One row of the communication sheet: where, for what, by whom, how, how often."""

    __tablename__ = "comms_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[str] = mapped_column(String(16), default=Audience.internal.value)
    kind: Mapped[str] = mapped_column(String(16))
    # An Apprise URL, a list address or a webhook URL; empty for manual channels. Apprise and
    # webhook URLs often hold tokens: stored because they are needed to send, shown masked.
    target: Mapped[str] = mapped_column(Text, default="")
    # Webhooks: the signing secret is derived from the server's secret key and this salt.
    signing_salt: Mapped[str] = mapped_column(String(64), default="")
    # How to use or get access to it: the only content of a manual channel.
    instructions: Mapped[str] = mapped_column(Text, default="")
    # Automatic channels get every matching update; the others are posted to on request.
    automatic: Mapped[bool] = mapped_column(default=True)
    # Paused: nothing is sent (deliveries are recorded as skipped), due times still show.
    paused: Mapped[bool] = mapped_column(default=False)
    # When it is used. No severities and no services mean any.
    customer_impact: Mapped[str] = mapped_column(String(8), default=Impact.any.value)
    # Internal channels that everyone reading may see restricted incidents (a security
    # team's private room). External channels never get restricted incidents.
    include_restricted: Mapped[bool] = mapped_column(default=False)
    # Who may post: user roles ("admin", "responder") and incident roles (below), either
    # one enough; neither means any responder.
    post_user_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Every this many minutes while a matching incident is open; None: no cadence.
    cadence_minutes: Mapped[int | None] = mapped_column(default=None)
    position: Mapped[int] = mapped_column(default=0)
    # The last send through this channel, for the registry page.
    last_ok: Mapped[bool | None] = mapped_column(default=None)
    last_result: Mapped[str] = mapped_column(Text, default="")
    last_result_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    severities: Mapped[list[Severity]] = relationship(
        secondary=comms_channel_severities, order_by="Severity.rank"
    )
    services: Mapped[list[Service]] = relationship(
        secondary=comms_channel_services, order_by="Service.name"
    )
    post_incident_roles: Mapped[list[IncidentRole]] = relationship(
        secondary=comms_channel_roles, order_by="IncidentRole.position"
    )

    @property
    def sendable(self) -> bool:
        return self.kind != ChannelKind.manual


class Stakeholder(Base):
    """A person or a team following an incident: internal updates reach them."""

    __tablename__ = "incident_stakeholders"
    __table_args__ = (
        # Led by the person or team, so they also find "what does this person follow".
        UniqueConstraint("user_id", "incident_id"),
        UniqueConstraint("team_id", "incident_id"),
        CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="stakeholder_user_or_team"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), default=None
    )
    added_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # Added automatically because they follow this service (see ServiceFollower). The name
    # is kept as it was, so the reason still reads right after a rename or a deletion.
    via_service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), default=None
    )
    via_service_name: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id], lazy="joined")
    team: Mapped[Team | None] = relationship(lazy="joined")
    added_by: Mapped[User | None] = relationship(foreign_keys=[added_by_id])

    @property
    def automatic(self) -> bool:
        return bool(self.via_service_name)

    @property
    def reason(self) -> str:
        """Why they are here when Tocsin added them: "follows Checkout"; else empty."""
        return f"follows {self.via_service_name}" if self.via_service_name else ""

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.name
        return self.team.name if self.team is not None else "?"


class ServiceFollower(Base):
    """A person or a team following a service: they become stakeholders of its incidents."""

    __tablename__ = "service_followers"
    __table_args__ = (
        # Led by the person or team, so they also find "what does this person follow".
        UniqueConstraint("user_id", "service_id"),
        UniqueConstraint("team_id", "service_id"),
        CheckConstraint(
            "(user_id IS NULL) <> (team_id IS NULL)", name="service_follower_user_or_team"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), default=None
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    service: Mapped[Service] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id], lazy="joined")
    team: Mapped[Team | None] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.name
        return self.team.name if self.team is not None else "?"


class CommsDelivery(Base):
    """One update (or reminder) to one channel or one person, and what became of it."""

    __tablename__ = "comms_deliveries"
    __table_args__ = (
        Index("ix_comms_deliveries_incident", "incident_id", "created_at"),
        Index("ix_comms_deliveries_channel", "channel_id", "incident_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    update_id: Mapped[int | None] = mapped_column(
        ForeignKey("status_updates.id", ondelete="SET NULL"), default=None, index=True
    )
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("comms_channels.id", ondelete="SET NULL"), default=None
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    # Kept as they were, so history reads right after a channel is renamed or deleted.
    recipient: Mapped[str] = mapped_column(String(255))
    via: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    # A message's text (purpose `message`); empty for the others, which say what they carry.
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    # "update:{update}:channel:{channel}", "update:{update}:user:{user}", ...: one per pair.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.planned.value)
    attempts: Mapped[int] = mapped_column(default=0)
    detail: Mapped[str] = mapped_column(Text, default="")
    # People: {contact method id: {"label", "channel", "ok", "detail"}}, one entry per method.
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Reminders: the due time they are about.
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

    incident: Mapped[Incident] = relationship()
    update: Mapped[StatusUpdate | None] = relationship()
    channel: Mapped[CommsChannel | None] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    by: Mapped[User | None] = relationship(foreign_keys=[by_id])
