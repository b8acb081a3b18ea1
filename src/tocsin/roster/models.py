"""The roster (each role's primary and backup) and the role notices (delivery records)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import User
from tocsin.db import Base, utcnow
from tocsin.definitions.models import IncidentRole
from tocsin.incidents.models import Incident
from tocsin.schedules.models import Schedule

SLOTS = ("primary", "backup")


class RosterEntry(Base):
    """Who answers for a role: a primary and a backup, each a person or a schedule (whoever
    is on call for it at the time). At most one entry per role."""

    __tablename__ = "roster_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(
        ForeignKey("incident_roles.id", ondelete="CASCADE"), unique=True
    )
    primary_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    primary_schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), default=None
    )
    backup_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    backup_schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    role: Mapped[IncidentRole] = relationship(lazy="joined")
    primary_user: Mapped[User | None] = relationship(foreign_keys=[primary_user_id])
    primary_schedule: Mapped[Schedule | None] = relationship(foreign_keys=[primary_schedule_id])
    backup_user: Mapped[User | None] = relationship(foreign_keys=[backup_user_id])
    backup_schedule: Mapped[Schedule | None] = relationship(foreign_keys=[backup_schedule_id])


class RoleNotice(Base):
    """One email telling a person they were given a role on an incident, with the role's
    responsibilities, as a delivery record (notify/delivery.py)."""

    __tablename__ = "role_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    role_id: Mapped[int] = mapped_column(ForeignKey("incident_roles.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assigned_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[str] = mapped_column(String(16), default="planned")
    attempts: Mapped[int] = mapped_column(default=0)
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detail: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Loaded on access: the delivery module locks the row (FOR UPDATE), which PostgreSQL
    # refuses across an outer join.
    incident: Mapped[Incident] = relationship()
    role: Mapped[IncidentRole] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    assigned_by: Mapped[User | None] = relationship(foreign_keys=[assigned_by_id])
