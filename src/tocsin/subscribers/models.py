"""ORM models for status page subscribers, their deliveries, and the subscribe rate limits."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import User
from tocsin.db import Base, utcnow
from tocsin.statuspages.models import Component, StatusPage


class SubscriberKind(enum.StrEnum):
    email = "email"
    webhook = "webhook"


class SubscriberState(enum.StrEnum):
    unconfirmed = "unconfirmed"  # email: waiting for the confirmation link to be followed
    active = "active"
    quarantined = "quarantined"  # webhook: kept failing; nothing is sent until staff re-activate
    unsubscribed = "unsubscribed"


class DeliveryKind(enum.StrEnum):
    incident_update = "incident_update"  # an update published on an incident or maintenance
    component_update = "component_update"  # a component's status changed
    maintenance_reminder = "maintenance_reminder"
    confirmation = "confirmation"  # the double opt-in mail
    quarantine_notice = "quarantine_notice"  # the page owner is told a webhook was quarantined


class DeliveryState(enum.StrEnum):
    queued = "queued"  # waiting for the worker (or for a retry)
    # Committed before the send starts, so no transaction is open while a receiver answers;
    # a worker that dies here leaves the job to run again (at least once).
    sending = "sending"
    sent = "sent"
    failed = "failed"  # every attempt failed
    skipped = "skipped"  # not sent on purpose (unsubscribed, quarantined, event withdrawn)


subscriber_components = Table(
    "status_page_subscriber_components",
    Base.metadata,
    Column(
        "subscriber_id",
        ForeignKey("status_page_subscribers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "component_id",
        ForeignKey("status_page_components.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Subscriber(Base):
    """An email address or webhook endpoint that hears about one status page."""

    __tablename__ = "status_page_subscribers"
    __table_args__ = (
        UniqueConstraint("page_id", "address_hash"),
        Index("ix_status_page_subscribers_page_state", "page_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("status_pages.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    # An email address (lower case) or a webhook URL (which may hold a token in its path or
    # query: it is needed to send, so it is stored, and shown to staff only masked).
    address: Mapped[str] = mapped_column(Text)
    # SHA-256 of "<kind>:<address>": one subscriber per address and page.
    address_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=SubscriberState.unconfirmed.value)
    # True: the whole page. False: only `components` (and nothing once they are all deleted).
    all_components: Mapped[bool] = mapped_column(default=True)
    # A scope asked for by someone re-subscribing an address that is already subscribed;
    # applied when the address confirms it. None when nothing is pending.
    pending_scope: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Mixed into the subscriber's signed links (confirm, unsubscribe) with the server's
    # secret key; replacing it voids every link sent before.
    link_salt: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="public")  # public | staff
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    quarantined_at: Mapped[datetime | None] = mapped_column(default=None)
    quarantine_reason: Mapped[str] = mapped_column(Text, default="")
    # Failed attempts in a row, and when the first of them failed (webhooks are quarantined
    # from these; see docs/subscribers.md).
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None] = mapped_column(default=None)
    last_delivery_at: Mapped[datetime | None] = mapped_column(default=None)
    last_delivery_ok: Mapped[bool | None] = mapped_column(default=None)
    last_delivery_result: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    page: Mapped[StatusPage] = relationship()
    created_by: Mapped[User | None] = relationship()
    components: Mapped[list[Component]] = relationship(
        secondary=subscriber_components, order_by="Component.position, Component.id"
    )

    @property
    def is_email(self) -> bool:
        return self.kind == SubscriberKind.email.value


class Delivery(Base):
    """One message to one subscriber about one event, with its state and last error."""

    __tablename__ = "status_page_subscriber_deliveries"
    __table_args__ = (
        # One delivery per subscriber and event: a repeated call enqueues nothing again.
        UniqueConstraint("subscriber_id", "event_key"),
        Index("ix_status_page_subscriber_deliveries_sub", "subscriber_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("status_page_subscribers.id", ondelete="CASCADE")
    )
    # "update:<id>", "change:<id>", "reminder:<id>", "confirm:<n>", "quarantine:<n>"
    event_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    page_incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("status_page_incidents.id", ondelete="SET NULL"), default=None, index=True
    )
    page_incident_update_id: Mapped[int | None] = mapped_column(
        ForeignKey("status_page_incident_updates.id", ondelete="SET NULL"), default=None
    )
    component_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("status_page_component_changes.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.queued.value)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    # {target key: {"label", "channel", "ok", "detail"}}: what each attempt's target said.
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    subscriber: Mapped[Subscriber] = relationship()


class RateWindow(Base):
    """A fixed-window counter (per client address or per email address) shared by every
    process through the database."""

    __tablename__ = "status_page_subscribe_limits"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[datetime] = mapped_column()
    count: Mapped[int] = mapped_column(default=0)
