"""API shapes for schedules, layers, overrides, shifts and gaps."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from tocsin.catalog.models import User
from tocsin.catalog.schemas import (
    Aware,
    Id,
    LongText,
    Name,
    Out,
    Ref,
    Strict,
    Timestamp,
    TimeZoneName,
    UserRef,
    omittable,
)
from tocsin.schedules.models import Layer, Override, Schedule
from tocsin.schedules.oncall import Shift

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
KindName = Literal["rotation", "ical"]
UnitName = Literal["hours", "days", "weeks", "seconds"]
HHMM = str


# --- requests ---------------------------------------------------------------------------


class ScheduleIn(Strict):
    name: Name
    description: LongText = ""
    timezone: TimeZoneName = "UTC"
    team_id: Id | None = None


class SchedulePatch(Strict):
    name: Name = omittable()
    description: LongText = omittable()
    timezone: TimeZoneName = omittable()
    team_id: Id | None = None


class Restriction(Strict):
    """On each of `days`, from `start` to `end` (HH:MM, local time in the layer's zone); an
    end at or before the start ends the next day, so 17:00-09:00 is a night."""

    days: list[Weekday] = Field(min_length=1, max_length=7)
    start: str = Field(max_length=5, examples=["09:00"])
    end: str = Field(max_length=5, examples=["17:00"])


class LayerIn(Strict):
    name: Name
    kind: KindName = "rotation"
    shift_length: int = Field(default=1, ge=1, le=366 * 86400)
    shift_unit: UnitName = "weeks"
    handoff_time: str = Field(default="09:00", max_length=5)
    timezone: TimeZoneName | None = Field(default=None, description="Default: the schedule's")
    start_date: date | None = Field(default=None, description="Required for rotations")
    end: Aware | None = None
    member_ids: list[Id] = Field(
        default=[], max_length=200, description="In turn order; repeats allowed"
    )
    restrictions: list[Restriction] = Field(default=[], max_length=50)
    ical_url: str | None = Field(default=None, max_length=2048)
    position: int | None = Field(default=None, ge=0, le=10_000)


class LayerPatch(Strict):
    name: Name = omittable()
    kind: KindName = omittable()
    shift_length: int = omittable(ge=1, le=366 * 86400)
    shift_unit: UnitName = omittable()
    handoff_time: str = omittable(max_length=5)
    timezone: TimeZoneName = omittable()
    start_date: date = omittable()
    end: Aware | None = None
    member_ids: list[Id] = omittable(max_length=200)
    restrictions: list[Restriction] = omittable(max_length=50)
    ical_url: str | None = Field(default=None, max_length=2048)
    position: int = omittable(ge=0, le=10_000)


class LayerOrder(Strict):
    layer_ids: list[Id] = Field(description="Every layer of the schedule, lowest first")


class OverrideIn(Strict):
    user_id: Id
    start: Aware
    end: Aware
    swap_with_id: Id | None = Field(
        default=None,
        description="A shift swap: the person on call by the layers whose time this is",
    )
    note: LongText = ""


# --- responses --------------------------------------------------------------------------


class ShiftOut(Out):
    user: UserRef
    start: Timestamp
    end: Timestamp
    schedule_id: int
    layer_id: int | None
    override_id: int | None
    source: str


class GapOut(Out):
    start: Timestamp
    end: Timestamp


class LayerOut(Out):
    id: int
    name: str
    position: int
    kind: KindName
    shift_length: int
    shift_unit: UnitName
    handoff_time: str
    timezone: str
    start_date: date
    end: Timestamp | None
    members: list[UserRef]
    restrictions: list[dict[str, Any]]
    ical_url: str | None
    imported_at: Timestamp | None
    import_report: dict[str, Any]


class OverrideOut(Out):
    id: int
    schedule_id: int
    user: UserRef
    start: Timestamp
    end: Timestamp
    swap_with: UserRef | None
    created_by: UserRef | None
    note: str
    created_at: Timestamp


class ScheduleOut(Out):
    id: int
    name: str
    description: str
    timezone: str
    team: Ref | None
    layers: list[LayerOut]
    on_call_now: list[ShiftOut]
    gaps: list[GapOut] = Field(description="Times in the coming weeks when nobody is on call")


class ScheduleSummary(Out):
    id: int
    name: str
    timezone: str
    team: Ref | None
    on_call_now: list[ShiftOut]
    gaps: list[GapOut]


class FeedOut(Out):
    url: str = Field(description="Secret: anyone with it can read the calendar")


class ImportOut(Out):
    source: str
    imported: int
    unmatched_count: int
    unmatched: list[dict[str, str]]
    skipped_over_limit: int
    window_start: str
    window_end: str


# --- builders ---------------------------------------------------------------------------


def shift_out(shift: Shift, users: dict[int, User]) -> ShiftOut:
    user = users.get(shift.user_id)
    ref = UserRef(
        id=shift.user_id, name=user.name if user else "", email=user.email if user else ""
    )
    return ShiftOut(
        user=ref,
        start=shift.start,
        end=shift.end,
        schedule_id=shift.schedule_id,
        layer_id=shift.layer_id,
        override_id=shift.override_id,
        source=shift.source,
    )


def gap_out(span: tuple[datetime, datetime]) -> GapOut:
    return GapOut(start=span[0], end=span[1])


def layer_out(layer: Layer, users: dict[int, User]) -> LayerOut:
    members = [
        UserRef(id=u.id, name=u.name, email=u.email)
        for i in layer.member_ids
        if (u := users.get(i)) is not None
    ]
    return LayerOut(
        id=layer.id,
        name=layer.name,
        position=layer.position,
        kind=layer.kind,
        shift_length=layer.shift_length,
        shift_unit=layer.shift_unit,
        handoff_time=layer.handoff_time.strftime("%H:%M"),
        timezone=layer.timezone,
        start_date=layer.start_date,
        end=layer.end,
        members=members,
        restrictions=layer.restrictions,
        ical_url=layer.ical_url,
        imported_at=layer.imported_at,
        import_report=layer.import_report or {},
    )


def override_out(override: Override) -> OverrideOut:
    return OverrideOut.model_validate(override)


def schedule_out(
    schedule: Schedule,
    users: dict[int, User],
    on_call_now: list[Shift],
    gaps: list[tuple[datetime, datetime]],
) -> ScheduleOut:
    return ScheduleOut(
        id=schedule.id,
        name=schedule.name,
        description=schedule.description,
        timezone=schedule.timezone,
        team=Ref.model_validate(schedule.team) if schedule.team else None,
        layers=[layer_out(layer, users) for layer in schedule.layers],
        on_call_now=[shift_out(s, users) for s in on_call_now],
        gaps=[gap_out(g) for g in gaps],
    )
