"""ORM models for status pages: pages, component groups, components, the incidents and
scheduled maintenances published on them, their updates, and each page's rendered files.

Public ids (`public_id`) are Statuspage-style 12-character strings; they are what the public
JSON API, feeds and webhooks show. Integer ids stay internal.
"""

from __future__ import annotations

import enum
import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import Service, Team, User
from tocsin.db import Base, utcnow
from tocsin.incidents.models import Incident, StatusUpdate

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_public_id() -> str:
    """A random 12-character lowercase id, like Statuspage's."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


class ComponentStatus(enum.StrEnum):
    """Best first: `SEVERITY` orders them for the page's overall indicator."""

    operational = "operational"
    under_maintenance = "under_maintenance"
    degraded_performance = "degraded_performance"
    partial_outage = "partial_outage"
    major_outage = "major_outage"


class Visibility(enum.StrEnum):
    public = "public"
    private = "private"  # readable after Tocsin login or through the secret link


class PageIncidentKind(enum.StrEnum):
    incident = "incident"
    maintenance = "maintenance"


class IncidentPhase(enum.StrEnum):
    """Realtime status of an incident on a page (Statuspage's names)."""

    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"


class MaintenanceStatus(enum.StrEnum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    verifying = "verifying"
    completed = "completed"


class Impact(enum.StrEnum):
    none = "none"
    minor = "minor"
    major = "major"
    critical = "critical"
    maintenance = "maintenance"


class ChangeSource(enum.StrEnum):
    manual = "manual"  # a person set the status by hand (editor, API)
    incident = "incident"  # an update published from a Tocsin incident
    maintenance = "maintenance"  # a maintenance started or ended
    withdrawn = "withdrawn"  # the incident became a drill or restricted: its impact undone


class StatusPage(Base):
    __tablename__ = "status_pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(12), unique=True, default=new_public_id)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16), default=Visibility.public.value)
    # SHA-256 of the shared secret link's token (private pages); None when there is no link.
    secret_link_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    secret_link_created_at: Mapped[datetime | None] = mapped_column(default=None)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The page's public address when served elsewhere (a static host, a CDN); shown as
    # `page.url` in the JSON API. Empty: Tocsin's own /status/<slug>/.
    public_url: Mapped[str] = mapped_column(String(500), default="")
    brand_color: Mapped[str] = mapped_column(String(7), default="#1f4e79")
    accent_color: Mapped[str] = mapped_column(String(7), default="#0b6bcb")
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    logo_content_type: Mapped[str | None] = mapped_column(String(32), default=None)
    # Who is told when something about the page goes wrong (a webhook quarantined, a
    # failed render): a team, a person, or both.
    owner_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), default=None, index=True
    )
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    allow_subscribers: Mapped[bool] = mapped_column(default=True)
    # Every change that alters what the page shows bumps `content_version`; the render job
    # sets `rendered_version` to the version it rendered (so several changes render once).
    content_version: Mapped[int] = mapped_column(default=1)
    rendered_version: Mapped[int] = mapped_column(default=0)
    rendered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner_team: Mapped[Team | None] = relationship()
    owner_user: Mapped[User | None] = relationship()
    groups: Mapped[list[ComponentGroup]] = relationship(
        back_populates="page",
        cascade="all, delete-orphan",
        order_by="ComponentGroup.position, ComponentGroup.id",
    )
    components: Mapped[list[Component]] = relationship(
        back_populates="page",
        cascade="all, delete-orphan",
        order_by="Component.position, Component.id",
    )


class ComponentGroup(Base):
    __tablename__ = "status_page_component_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(12), unique=True, default=new_public_id)
    page_id: Mapped[int] = mapped_column(
        ForeignKey("status_pages.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    page: Mapped[StatusPage] = relationship(back_populates="groups")
    components: Mapped[list[Component]] = relationship(
        back_populates="group", order_by="Component.position, Component.id"
    )


class Component(Base):
    __tablename__ = "status_page_components"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(12), unique=True, default=new_public_id)
    page_id: Mapped[int] = mapped_column(
        ForeignKey("status_pages.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("status_page_component_groups.id", ondelete="SET NULL"),
        default=None,
        index=True,
    )
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), default=None, index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(32), default=ComponentStatus.operational.value)
    showcase: Mapped[bool] = mapped_column(default=True)  # show the 90-day uptime bar
    only_show_if_degraded: Mapped[bool] = mapped_column(default=False)
    start_date: Mapped[date | None] = mapped_column(default=None)  # history starts here
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    page: Mapped[StatusPage] = relationship(back_populates="components")
    group: Mapped[ComponentGroup | None] = relationship(back_populates="components")
    service: Mapped[Service | None] = relationship()


page_incident_components = Table(
    "status_page_incident_components",
    Base.metadata,
    Column(
        "page_incident_id",
        ForeignKey("status_page_incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "component_id",
        ForeignKey("status_page_components.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class PageIncident(Base):
    """An incident (published from a Tocsin incident) or a scheduled maintenance on a page."""

    __tablename__ = "status_page_incidents"
    __table_args__ = (
        UniqueConstraint("page_id", "incident_id"),
        Index("ix_status_page_incidents_page_created", "page_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(12), unique=True, default=new_public_id)
    page_id: Mapped[int] = mapped_column(ForeignKey("status_pages.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default=PageIncidentKind.incident.value)
    # The Tocsin incident it was published from (None for a maintenance). Its `drill` and
    # `restricted` flags are checked at publish time and again at every render.
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), default=None, index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    # incidents: investigating|identified|monitoring|resolved;
    # maintenances: scheduled|in_progress|verifying|completed
    status: Mapped[str] = mapped_column(String(16))
    impact: Mapped[str] = mapped_column(String(16), default=Impact.none.value)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    monitoring_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    # Scheduled maintenance only.
    scheduled_for: Mapped[datetime | None] = mapped_column(default=None)
    scheduled_until: Mapped[datetime | None] = mapped_column(default=None)
    scheduled_auto_in_progress: Mapped[bool] = mapped_column(default=True)
    scheduled_auto_completed: Mapped[bool] = mapped_column(default=True)
    auto_transition_to_maintenance_state: Mapped[bool] = mapped_column(default=True)
    auto_transition_to_operational_state: Mapped[bool] = mapped_column(default=True)
    auto_transition_deliver_notifications_at_start: Mapped[bool] = mapped_column(default=True)
    auto_transition_deliver_notifications_at_end: Mapped[bool] = mapped_column(default=True)
    # Remind subscribers this many minutes before `scheduled_for` (None: no reminder).
    scheduled_remind_prior_minutes: Mapped[int | None] = mapped_column(default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    page: Mapped[StatusPage] = relationship()
    incident: Mapped[Incident | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    components: Mapped[list[Component]] = relationship(
        secondary=page_incident_components, order_by="Component.position, Component.id"
    )
    updates: Mapped[list[PageIncidentUpdate]] = relationship(
        back_populates="page_incident",
        cascade="all, delete-orphan",
        order_by="PageIncidentUpdate.display_at.desc(), PageIncidentUpdate.id.desc()",
    )

    @property
    def is_maintenance(self) -> bool:
        return self.kind == PageIncidentKind.maintenance.value

    @property
    def hidden(self) -> bool:
        """True when the page must not show it: its Tocsin incident is a drill or restricted."""
        return self.incident is not None and (self.incident.drill or self.incident.restricted)


class PageIncidentUpdate(Base):
    __tablename__ = "status_page_incident_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(12), unique=True, default=new_public_id)
    page_incident_id: Mapped[int] = mapped_column(
        ForeignKey("status_page_incidents.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text, default="")
    # [{"component_id": 3, "code": "<public id>", "name": "API",
    #   "old_status": "operational", "new_status": "partial_outage"}]
    affected_components: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    deliver_notifications: Mapped[bool] = mapped_column(default=True)
    # The Tocsin status update (visibility "external") this was published with.
    status_update_id: Mapped[int | None] = mapped_column(
        ForeignKey("status_updates.id", ondelete="SET NULL"), default=None, index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    display_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    page_incident: Mapped[PageIncident] = relationship(back_populates="updates")
    status_update: Mapped[StatusUpdate | None] = relationship()
    author: Mapped[User | None] = relationship()


class ComponentChange(Base):
    """Every change of a component's status: by hand, by a published update, by a
    maintenance. Subscribers' component notifications are built from these."""

    __tablename__ = "status_page_component_changes"
    __table_args__ = (Index("ix_status_page_component_changes_comp", "component_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(12), unique=True, default=new_public_id)
    component_id: Mapped[int] = mapped_column(
        ForeignKey("status_page_components.id", ondelete="CASCADE")
    )
    old_status: Mapped[str] = mapped_column(String(32))
    new_status: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default=ChangeSource.manual.value)
    page_incident_update_id: Mapped[int | None] = mapped_column(
        ForeignKey("status_page_incident_updates.id", ondelete="SET NULL"), default=None
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    component: Mapped[Component] = relationship()
    page_incident_update: Mapped[PageIncidentUpdate | None] = relationship()
    actor: Mapped[User | None] = relationship()


class RenderedFile(Base):
    """One file of a page's latest render (HTML, JSON, feeds, stylesheet, logo). Web
    processes serve these from memory; the export writes them to a directory."""

    __tablename__ = "status_page_files"

    page_id: Mapped[int] = mapped_column(
        ForeignKey("status_pages.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(255), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(default=0)
    rendered_at: Mapped[datetime] = mapped_column(default=utcnow)
