"""ORM models for integrations, received events and alerts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import Service
from tocsin.db import Base, utcnow
from tocsin.incidents.models import Incident


class IntegrationType(enum.StrEnum):
    pagerduty = "pagerduty"  # PagerDuty Events API v2 (routing_key in the body)
    alertmanager = "alertmanager"  # webhook_configs; URL /hooks/{key}
    grafana = "grafana"  # Grafana alerting webhook contact point; URL /hooks/{key}


class AlertStatus(enum.StrEnum):
    triggered = "triggered"
    acknowledged = "acknowledged"
    resolved = "resolved"


class Outcome(enum.StrEnum):
    """What became of a received event: the answer to "why did (or didn't) this page?"."""

    created_alert = "created_alert"
    deduplicated = "deduplicated"
    acknowledged = "acknowledged"
    resolved = "resolved"
    ignored = "ignored"  # e.g. acknowledge or resolve for no open alert
    recorded = "recorded"  # change events: kept for context, never page
    rejected = "rejected"


class Integration(Base):
    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(32))
    # The key senders put in routing_key / the URL; only its SHA-256 is stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)

    service: Mapped[Service] = relationship(lazy="joined")


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # At most one open alert per (integration, dedup key): the database, not a lock in
        # one process, decides which of two concurrent triggers creates it.
        Index(
            "uq_alerts_open_dedup",
            "integration_id",
            "dedup_key",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), index=True
    )
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), default=None, index=True
    )
    dedup_key: Mapped[str] = mapped_column(String(255))
    group_key: Mapped[str | None] = mapped_column(String(1024), default=None)
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.triggered.value)
    summary: Mapped[str] = mapped_column(String(1024))
    severity: Mapped[str] = mapped_column(String(16), default="error")
    source: Mapped[str] = mapped_column(String(255), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    event_count: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_event_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)

    integration: Mapped[Integration] = relationship(lazy="joined")
    incident: Mapped[Incident | None] = relationship()


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_integration_received", "integration_id", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int | None] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), default=None
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(16))  # trigger | acknowledge | resolve | change
    dedup_key: Mapped[str | None] = mapped_column(String(255), default=None)
    summary: Mapped[str] = mapped_column(String(1024), default="")
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(32))
    outcome_detail: Mapped[str] = mapped_column(Text, default="")
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL"), default=None, index=True
    )

    alert: Mapped[Alert | None] = relationship()
