"""ORM models for outbound event webhooks: subscriptions and their delivery log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import User
from tocsin.db import Base, utcnow


class DeliveryState(enum.StrEnum):
    queued = "queued"  # waiting for the worker (or for a retry)
    sending = "sending"  # committed before the send starts; at least once if a worker dies
    sent = "sent"
    failed = "failed"
    skipped = "skipped"  # e.g. the subscription was disabled before it went


class WebhookSubscription(Base):
    """A URL that receives the incident events it asked for, signed with its own secret."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    url: Mapped[str] = mapped_column(Text)
    # Event kinds (payloads.EVENT_KINDS); at least one.
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Conditions on the incident, each a list of ids; an empty list means any.
    severity_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    service_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    team_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    type_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Drills and restricted incidents are sent only to subscriptions that opt in.
    include_drills: Mapped[bool] = mapped_column(default=False)
    include_restricted: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    # The signing secret is derived from the server's secret key and this salt (as comms
    # webhook channels do): the database alone does not hold it. Rotating changes the salt.
    signing_salt: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    created_by: Mapped[User | None] = relationship()


class WebhookDelivery(Base):
    """One event sent (or to be sent) to one subscription: the body as it was when the event
    happened, and what became of it. A subscription keeps its latest deliveries only."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    # The delivery's id in the body and the X-Tocsin-Delivery header, kept across attempts.
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    event: Mapped[str] = mapped_column(String(40))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), default=None
    )
    # The whole JSON body, built in the transaction of the change (a snapshot).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.queued.value)
    attempts: Mapped[int] = mapped_column(default=0)
    http_status: Mapped[int | None] = mapped_column(default=None)
    duration_ms: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    # {target key: {"label", "channel", "ok", "detail"}}, as the delivery module records.
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    subscription: Mapped[WebhookSubscription] = relationship()
