"""The roster: each role's primary and backup."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import User
from tocsin.db import Base, utcnow
from tocsin.definitions.models import IncidentRole
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
