"""ORM models for integrations, received events and alerts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.alerts.outcomes import Outcome
from tocsin.catalog.models import Service
from tocsin.db import Base, utcnow
from tocsin.incidents.models import Incident


class IntegrationType(enum.StrEnum):
    pagerduty = "pagerduty"  # PagerDuty Events API v2 (routing_key in the body)
    alertmanager = "alertmanager"  # webhook_configs; URL /hooks/{key}
    grafana = "grafana"  # Grafana alerting webhook contact point; URL /hooks/{key}
    opsgenie = "opsgenie"  # Opsgenie Alert API subset under /opsgenie (GenieKey header)
    webhook = "webhook"  # any JSON, read through a per-integration JMESPath mapping
    heartbeat = "heartbeat"  # the sender pings /heartbeat/{key}; silence raises an alert


class AlertStatus(enum.StrEnum):
    triggered = "triggered"
    acknowledged = "acknowledged"
    resolved = "resolved"


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
    # Per-type settings: the JMESPath mapping of a generic webhook, a heartbeat's interval.
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)

    service: Mapped[Service] = relationship(lazy="joined")
    routing_rules: Mapped[list[RoutingRule]] = relationship(
        order_by="RoutingRule.position", cascade="all, delete-orphan", back_populates="integration"
    )


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
        # Insights' alert noise: the alerts of a period, of all services or of some, with
        # what the counts per day and the drill filter read (columns fixed when the alert is
        # created: repeats, acknowledgements and resolves never touch these indexes).
        Index("ix_alerts_created", "created_at", "service_id", "incident_id"),
        Index("ix_alerts_service_created", "service_id", "created_at", "incident_id"),
        # The latest alert of a key, when a new one is created (its `quiet_seconds`).
        Index("ix_alerts_key_created", "integration_id", "dedup_key", "created_at"),
        # The first alert of each incident, and its integration (incidents opened per source).
        Index("ix_alerts_incident_first", "incident_id", "id", "integration_id"),
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
    # What the service's grouping rule keyed this alert by; later alerts with the same value
    # join its incident while it is open.
    grouping_key: Mapped[str] = mapped_column(String(255), default="", index=True)
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.triggered.value)
    summary: Mapped[str] = mapped_column(String(1024))
    severity: Mapped[str] = mapped_column(String(16), default="error")
    source: Mapped[str] = mapped_column(String(255), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # PagerDuty `images` of the trigger that opened it: [{src (https), href?, alt?}].
    images: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    event_count: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_event_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    # Whole seconds from the resolve of the previous alert of the same integration and dedup
    # key to this one's creation (None: the key's first alert). Fixed at creation: an alert
    # is created only once the key's previous one has resolved, and a resolved alert never
    # reopens. A short one is a flap (Insights' alert noise).
    quiet_seconds: Mapped[int | None] = mapped_column(default=None)

    integration: Mapped[Integration] = relationship(lazy="joined")
    incident: Mapped[Incident | None] = relationship()


class Event(Base):
    """One received event. Written (outcome `pending`) before the sender gets its 2xx, then
    applied in order by the processor, which fills in the outcome."""

    __tablename__ = "events"
    # Every index here is paid for on each accepted event, so the ones for columns that are
    # empty until an event is applied (or empty for most senders) are partial.
    __table_args__ = (
        # Ids grow with time: (integration, id) serves "latest events of an integration".
        Index("ix_events_integration", "integration_id", "id"),
        # "What arrived around 3 a.m.?" and retention.
        Index("ix_events_received", "received_at"),
        Index(
            "ix_events_service",
            "service_id",
            "id",
            sqlite_where=text("service_id IS NOT NULL"),
            postgresql_where=text("service_id IS NOT NULL"),
        ),
        Index(
            "ix_events_alert",
            "alert_id",
            sqlite_where=text("alert_id IS NOT NULL"),
            postgresql_where=text("alert_id IS NOT NULL"),
        ),
        Index(
            "ix_events_request",
            "request_id",
            sqlite_where=text("request_id IS NOT NULL"),
            postgresql_where=text("request_id IS NOT NULL"),
        ),
        # Insights' suppression and maintenance hits: only the events a rule dropped or
        # downgraded or a window held are in this index (queries write `HELD`), with what
        # the figures read of them (set together when the event is applied).
        Index(
            "ix_events_held",
            "received_at",
            "service_id",
            "outcome",
            "rule_id",
            "maintenance_window_id",
            "alert_id",
            sqlite_where=text("outcome IN ('suppressed', 'maintenance') OR rule_id IS NOT NULL"),
            postgresql_where=text(
                "outcome IN ('suppressed', 'maintenance') OR rule_id IS NOT NULL"
            ),
        ),
        # The processor's queue: only pending events are in this index.
        Index(
            "ix_events_pending",
            "id",
            sqlite_where=text("outcome = 'pending'"),
            postgresql_where=text("outcome = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int | None] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), default=None
    )
    # The service the event was routed to (set when it is applied).
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), default=None
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # trigger | acknowledge | unacknowledge | resolve | change | heartbeat
    action: Mapped[str] = mapped_column(String(16))
    dedup_key: Mapped[str | None] = mapped_column(String(255), default=None)
    summary: Mapped[str] = mapped_column(String(1024), default="")
    # The normalized event (severity, source, details, links, group key…) as JSON text.
    data: Mapped[str] = mapped_column(Text, default="{}")
    # The body as received; cleared after the configured retention.
    raw: Mapped[str | None] = mapped_column(Text, default=None)
    # The id the sender's answer gave it: Opsgenie's requestId (for GET
    # /v2/alerts/requests/{id}) or a PagerDuty change event's id.
    request_id: Mapped[str | None] = mapped_column(String(36), default=None)
    outcome: Mapped[str] = mapped_column(String(32), default=Outcome.pending.value)
    outcome_detail: Mapped[str] = mapped_column(Text, default="")
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL"), default=None
    )
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("suppression_rules.id", ondelete="SET NULL"), default=None
    )
    maintenance_window_id: Mapped[int | None] = mapped_column(
        ForeignKey("maintenance_windows.id", ondelete="SET NULL"), default=None
    )

    integration: Mapped[Integration | None] = relationship()
    alert: Mapped[Alert | None] = relationship()


# The partial index `ix_events_pending` serves only queries whose condition is written exactly
# like this, with the literal: a bound parameter would leave SQLite scanning every event.
PENDING = text("events.outcome = 'pending'")


class Grouping(enum.StrEnum):
    auto = "auto"  # the Alertmanager group when the event has one, otherwise the dedup key
    dedup_key = "dedup_key"
    alert_group = "alert_group"
    fields = "fields"  # same values of the chosen fields within a time window


class AlertSettings(Base):
    """How one service turns alerts into incidents. A service without a row uses defaults."""

    __tablename__ = "alert_settings"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    grouping: Mapped[str] = mapped_column(String(16), default=Grouping.auto.value)
    group_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    group_window_minutes: Mapped[int] = mapped_column(default=60)
    auto_resolve: Mapped[bool] = mapped_column(default=True)
    # Event severity → incident severity name and urgency; missing entries use the defaults.
    severity_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    urgency_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class RoutingRule(Base):
    """Send an integration's matching events to another service. First match wins."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    # [{"field": "labels.team", "op": "equals", "value": "db"}, …]; all must match.
    matchers: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))

    integration: Mapped[Integration] = relationship(back_populates="routing_rules")
    service: Mapped[Service] = relationship(lazy="joined")


class SuppressionRule(Base):
    """Drop matching trigger events of a service, or lower their severity."""

    __tablename__ = "suppression_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(default=0)
    matchers: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    action: Mapped[str] = mapped_column(String(16), default="drop")  # drop | downgrade
    severity: Mapped[str | None] = mapped_column(String(16), default=None)  # for downgrade
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MaintenanceWindow(Base):
    """While a window is on, a service's trigger events are recorded and page no one."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    service: Mapped[Service] = relationship(lazy="joined")
