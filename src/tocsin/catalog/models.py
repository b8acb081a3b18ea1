"""ORM models for teams, users (and the history of their time zones) and services."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.db import Base, utcnow


class UserRole(enum.StrEnum):
    admin = "admin"  # configures Tocsin
    responder = "responder"  # runs incidents
    viewer = "viewer"  # reads


class TeamRole(enum.StrEnum):
    """A member's role in one team, on top of their organisation role (catalog.permissions)."""

    admin = "admin"  # manages the team's members and everything the team owns
    responder = "responder"  # changes what the team owns (schedules, policies, services, …)
    viewer = "viewer"  # reads


class UserKind(enum.StrEnum):
    person = "person"  # signs in, is paged, goes on call
    service = "service"  # a service account: acts through API tokens only (auth/accounts.py)


team_members = Table(
    "team_members",
    Base.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "role",
        String(16),
        nullable=False,
        default=TeamRole.responder.value,
        server_default=TeamRole.responder.value,
    ),
)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[User]] = relationship(
        secondary=team_members, back_populates="teams", order_by="User.name"
    )
    services: Mapped[list[Service]] = relationship(back_populates="team", order_by="Service.name")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    role: Mapped[str] = mapped_column(String(16), default=UserRole.responder.value)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A service account is not a person: never signs in, paged, on call or listed as people.
    kind: Mapped[str] = mapped_column(String(16), default=UserKind.person.value)

    teams: Mapped[list[Team]] = relationship(
        secondary=team_members, back_populates="members", order_by="Team.name"
    )

    @hybrid_property
    def is_person(self) -> bool:
        """Not a service account; `.where(User.is_person)` in lists and pickers of people."""
        return self.kind == UserKind.person.value

    def can(self, role: UserRole) -> bool:
        """True if this user's role is at least `role` (viewer < responder < admin)."""
        order = [UserRole.viewer, UserRole.responder, UserRole.admin]
        return self.active and order.index(UserRole(self.role)) >= order.index(role)


class UserTimezoneChange(Base):
    """A person's time zone changed: what a moment before `changed_at` was for them is read
    in `old_timezone` (on-call load judges a page's hours in the zone its person had then)."""

    __tablename__ = "user_timezone_changes"
    __table_args__ = (Index("ix_user_timezone_changes_user", "user_id", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    old_timezone: Mapped[str] = mapped_column(String(64))
    new_timezone: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), default=None, index=True
    )
    # 1 is the most critical tier.
    tier: Mapped[int] = mapped_column(default=2)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team | None] = relationship(back_populates="services")
