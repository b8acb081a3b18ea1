"""ORM models for incidents and everything recorded on them."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import Service, User
from tocsin.db import Base, utcnow
from tocsin.definitions.models import IncidentRole, IncidentType, Priority, Severity


class Status(enum.StrEnum):
    triggered = "triggered"
    acknowledged = "acknowledged"
    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"
    closed = "closed"


OPEN_STATUSES = frozenset(
    {
        Status.triggered,
        Status.acknowledged,
        Status.investigating,
        Status.identified,
        Status.monitoring,
    }
)


class ActionStatus(enum.StrEnum):
    open = "open"
    in_progress = "in_progress"
    done = "done"
    wont_do = "wont_do"


class ActionPriority(enum.StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


class ActionKind(enum.StrEnum):
    incident = "incident"  # to do during the incident
    follow_up = "follow_up"  # to do after it, so it does not happen again


incident_services = Table(
    "incident_services",
    Base.metadata,
    Column("incident_id", ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
    # A service's (or a team's) incidents, for Insights' filters.
    Index("ix_incident_services_service", "service_id", "incident_id"),
)


class Counter(Base):
    """Named counters for human references (INC-42); one locked row per name."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    type_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident_types.id", ondelete="SET NULL"), default=None, index=True
    )
    severity_id: Mapped[int | None] = mapped_column(
        ForeignKey("severities.id", ondelete="SET NULL"), default=None, index=True
    )
    priority_id: Mapped[int | None] = mapped_column(
        ForeignKey("priorities.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(16), default=Status.triggered.value)
    # "high" or "low": which notification rules a page follows, and how the services'
    # escalation treats it (see escalation.engine and docs/escalation.md).
    urgency: Mapped[str] = mapped_column(String(8), default="high")
    # Declared with "don't page": escalation never started by itself (paging by hand still
    # works, at `urgency`).
    declared_without_paging: Mapped[bool] = mapped_column(default=False)
    customer_impact: Mapped[str] = mapped_column(Text, default="")
    # How it ended and what fixed it, written when it is resolved (Markdown); the
    # postmortem starts from it.
    resolution_summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    # [{"title": "...", "url": "https://..."}]
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    drill: Mapped[bool] = mapped_column(default=False)
    # Private: visible only to its members (IncidentMember) and to admins (incidents.access).
    # The column keeps its first name; everything people see calls it private.
    restricted: Mapped[bool] = mapped_column(default=False)
    # What people outside a private incident are told of it instead of its number and title
    # ("Operation Bluebird"); "" for none.
    codename: Mapped[str] = mapped_column(String(80), default="", server_default="")

    started_at: Mapped[datetime | None] = mapped_column(default=None)
    # Always set (the declaration's time when nobody says): periods and KPIs start from it.
    detected_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the first response (acknowledgement) is due under the severity's response target,
    # fixed when set (tocsin.targets): a later change of the target does not rewrite it.
    # None: no severity, or a severity without a target.
    response_due_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    incident_type: Mapped[IncidentType | None] = relationship()
    severity: Mapped[Severity | None] = relationship()
    priority: Mapped[Priority | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    services: Mapped[list[Service]] = relationship(
        secondary=incident_services, order_by="Service.name"
    )
    role_assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="incident", cascade="all, delete-orphan"
    )
    action_items: Mapped[list[ActionItem]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        order_by="ActionItem.id",
    )
    updates: Mapped[list[StatusUpdate]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        order_by="StatusUpdate.created_at.desc(), StatusUpdate.id.desc()",
    )

    @property
    def reference(self) -> str:
        return f"INC-{self.number}"

    @property
    def is_open(self) -> bool:
        return Status(self.status) in OPEN_STATUSES

    def holder(self, role_slug: str) -> User | None:
        """The role's holder, the first assigned when it has several."""
        held = self.holders(role_slug)
        return held[0] if held else None

    def holders(self, role_slug: str) -> list[User]:
        """Everyone holding the role, in the order they were assigned."""
        mine = [a for a in self.role_assignments if a.role.slug == role_slug]
        return [a.user for a in sorted(mine, key=lambda a: (a.assigned_at, a.id or 0))]

    @property
    def commander(self) -> User | None:
        return self.holder("incident_commander")


class RoleAssignment(Base):
    __tablename__ = "incident_role_assignments"
    # One row per holder: a role that allows several (IncidentRole.multiple) has several rows.
    __table_args__ = (UniqueConstraint("incident_id", "role_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(ForeignKey("incident_roles.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="role_assignments")
    role: Mapped[IncidentRole] = relationship(lazy="joined")
    user: Mapped[User] = relationship(lazy="joined")


class IncidentMember(Base):
    """One person on an incident's allow-list: a private incident is visible to its members
    (and admins) only. The declarer and role holders are added when they become so; the
    commander and admins add and remove others (incidents.members)."""

    __tablename__ = "incident_members"
    __table_args__ = (
        UniqueConstraint("incident_id", "user_id"),
        Index("ix_incident_members_user", "user_id", "incident_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    added_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    added_by: Mapped[User | None] = relationship(foreign_keys=[added_by_id])


class TimelineEntry(Base):
    __tablename__ = "timeline_entries"
    __table_args__ = (Index("ix_timeline_incident_occurred", "incident_id", "occurred_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    # created, status_changed, field_changed, timestamp_changed, note, update_posted,
    # role_assigned, role_unassigned, action_item_added, action_item_changed, ...
    kind: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    field: Mapped[str | None] = mapped_column(String(64), default=None)
    old_value: Mapped[Any] = mapped_column(JSON, default=None)
    new_value: Mapped[Any] = mapped_column(JSON, default=None)
    is_key_event: Mapped[bool] = mapped_column(default=False)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # When it happened; may be earlier than created_at (backfilled entries).
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="joined")


class StatusUpdate(Base):
    __tablename__ = "status_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    visibility: Mapped[str] = mapped_column(String(16), default="internal")  # internal|external
    phase: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    next_update_at: Mapped[datetime | None] = mapped_column(default=None)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="updates")
    author: Mapped[User | None] = relationship(lazy="joined")


class ActionItem(Base):
    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    due_date: Mapped[date | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default=ActionStatus.open.value)
    kind: Mapped[str] = mapped_column(String(16), default=ActionKind.incident.value)
    priority: Mapped[str] = mapped_column(
        String(8), default=ActionPriority.medium.value, server_default=ActionPriority.medium.value
    )
    # Short lowercase labels (`sev1`, `sev1_20261206`, `database`); see incidents/actions.py.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)

    incident: Mapped[Incident] = relationship(back_populates="action_items")
    assignee: Mapped[User | None] = relationship(lazy="joined")

    def is_overdue(self, today: date) -> bool:
        return (
            self.due_date is not None
            and self.due_date < today
            and self.status in (ActionStatus.open.value, ActionStatus.in_progress.value)
        )

    def days_overdue(self, today: date) -> int:
        """How many days past its due date an open item is on `today`; 0 if it is not."""
        if not self.is_overdue(today) or self.due_date is None:
            return 0
        return (today - self.due_date).days
