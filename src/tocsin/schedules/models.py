"""ORM models for schedules, their layers, imported calendar events and overrides."""

from __future__ import annotations

import enum
import secrets
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.catalog.models import Team, User
from tocsin.db import Base, utcnow


class LayerKind(enum.StrEnum):
    rotation = "rotation"  # members take turns, one shift each
    ical = "ical"  # shifts come from an imported calendar (file or URL)


class ShiftUnit(enum.StrEnum):
    hours = "hours"
    days = "days"
    weeks = "weeks"
    seconds = "seconds"  # a custom length


def new_version() -> int:
    return secrets.randbits(62)


UNIT_SECONDS = {"hours": 3600, "days": 86400, "weeks": 7 * 86400, "seconds": 1}


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # The zone the schedule is shown in by default and new layers start with.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team | None] = relationship()
    layers: Mapped[list[Layer]] = relationship(
        back_populates="schedule",
        order_by="Layer.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    overrides: Mapped[list[Override]] = relationship(
        back_populates="schedule",
        order_by="Override.start",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class Layer(Base):
    """One layer of a schedule. Where several layers cover a moment, the highest position wins.

    A rotation's shifts are cut at local wall-clock boundaries in `timezone`: the first starts
    at `start_date` + `handoff_time`, each lasts `shift_length` `shift_unit`s, and member k
    (in `member_ids` order, repeats allowed) takes shifts k, k + n, k + 2n... (see oncall.py).
    """

    __tablename__ = "schedule_layers"
    __table_args__ = (UniqueConstraint("schedule_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16), default=LayerKind.rotation.value)
    shift_length: Mapped[int] = mapped_column(default=1)
    shift_unit: Mapped[str] = mapped_column(String(16), default=ShiftUnit.weeks.value)
    handoff_time: Mapped[time] = mapped_column(Time, default=time(9, 0))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    start_date: Mapped[date] = mapped_column(Date)
    end: Mapped[datetime | None] = mapped_column(default=None)
    # User ids in rotation order; a list (not a table) because order and repeats matter and
    # "who is on call" for a thousand schedules reads it for every layer at once.
    member_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # [{"days": ["mon", ...], "start": "09:00", "end": "17:00"}]: the layer only covers
    # these windows (local time in `timezone`; an end at or before the start ends next day).
    restrictions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Imported calendars: where from, when, and what could not be matched to a user.
    ical_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    imported_at: Mapped[datetime | None] = mapped_column(default=None)
    import_report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A new random number with every change to the layer (service._apply_layer): the on-call
    # computation keeps each layer's arithmetic by (id, version) and reloads only what changed.
    # Random rather than counted, so that another database (a restore, a test) cannot match.
    version: Mapped[int] = mapped_column(BigInteger, default=new_version)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    schedule: Mapped[Schedule] = relationship(back_populates="layers")
    events: Mapped[list[LayerEvent]] = relationship(
        back_populates="layer",
        order_by="LayerEvent.start",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def shift_seconds(self) -> int:
        return self.shift_length * UNIT_SECONDS[self.shift_unit]


class LayerEvent(Base):
    """A shift taken from an imported calendar event (layers of kind ical)."""

    __tablename__ = "schedule_layer_events"
    __table_args__ = (Index("ix_schedule_layer_events_layer_start", "layer_id", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("schedule_layers.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    start: Mapped[datetime]
    end: Mapped[datetime]
    uid: Mapped[str] = mapped_column(String(255), default="")
    summary: Mapped[str] = mapped_column(String(500), default="")

    layer: Mapped[Layer] = relationship(back_populates="events")
    user: Mapped[User] = relationship()


class Override(Base):
    """`user` is on call for [start, end) whoever the layers say; a swap names the partner."""

    __tablename__ = "schedule_overrides"
    __table_args__ = (Index("ix_schedule_overrides_schedule_end", "schedule_id", "end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    start: Mapped[datetime]
    end: Mapped[datetime]
    # A swap: `user` takes this range from `swap_with` (who is on call by the layers).
    swap_with_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    schedule: Mapped[Schedule] = relationship(back_populates="overrides")
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    swap_with: Mapped[User | None] = relationship(foreign_keys=[swap_with_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])


class CalendarFeed(Base):
    """A secret iCal feed of one schedule or one user's shifts.

    The URL token is an HMAC of the feed id and `salt` under the server's secret key: nothing
    secret is stored, the page can show the URL again, and a new salt revokes the old URL."""

    __tablename__ = "schedule_calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), unique=True, default=None
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, default=None
    )
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
