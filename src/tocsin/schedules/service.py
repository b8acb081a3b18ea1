"""Actions on schedules, layers and overrides: the only way to change them.

Each validates its input (a bad value is a ValidationFailed naming the field, and nothing is
written), writes, and flushes; the caller commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User, UserRole
from tocsin.catalog.permissions import check_change, check_move, scope
from tocsin.db import utcnow
from tocsin.errors import Conflict, NotFound, UnknownReference, ValidationFailed
from tocsin.schedules import oncall
from tocsin.schedules.changes import changing
from tocsin.schedules.models import (
    UNIT_SECONDS,
    Layer,
    LayerKind,
    Override,
    Schedule,
    ShiftUnit,
    new_version,
)
from tocsin.schedules.rotation import DAYS, MAX_SHIFT_SECONDS, MIN_SHIFT_SECONDS, Rotation

NAME_MAX = 120
TEXT_MAX = 5000
MAX_MEMBERS = 200
MAX_RESTRICTIONS = 50
LAYER_FIELDS = {
    "name",
    "kind",
    "shift_length",
    "shift_unit",
    "handoff_time",
    "timezone",
    "start_date",
    "end",
    "member_ids",
    "restrictions",
    "ical_url",
    "position",
}


def _only(changes: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")


# Lookups -------------------------------------------------------------------------------------


def get_schedule(session: Session, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"no schedule with id {schedule_id}")
    return schedule


def schedule_named(session: Session, name: str) -> Schedule:
    found = session.scalar(select(Schedule).where(func.lower(Schedule.name) == name.lower()))
    if found is None:
        raise NotFound(f"no schedule named {name!r}")
    return found


def get_layer(session: Session, schedule: Schedule, layer_id: int) -> Layer:
    layer = session.get(Layer, layer_id)
    if layer is None or layer.schedule_id != schedule.id:
        raise NotFound(f"no layer {layer_id} in schedule {schedule.name!r}")
    return layer


def get_override(session: Session, schedule: Schedule, override_id: int) -> Override:
    override = session.get(Override, override_id)
    if override is None or override.schedule_id != schedule.id:
        raise NotFound(f"no override {override_id} in schedule {schedule.name!r}")
    return override


def list_schedules(session: Session) -> list[Schedule]:
    return list(session.scalars(select(Schedule).order_by(Schedule.name, Schedule.id)))


def overrides(
    session: Session, schedule: Schedule, *, since: datetime | None = None
) -> list[Override]:
    """The schedule's overrides by start; with `since`, only those still running after it."""
    query = select(Override).where(Override.schedule_id == schedule.id)
    if since is not None:
        query = query.where(Override.end > since)
    return list(session.scalars(query.order_by(Override.start, Override.id)))


# Schedules -----------------------------------------------------------------------------------


def _unique_name(session: Session, name: str, current: Schedule | None) -> None:
    same = or_(Schedule.name == name, func.lower(Schedule.name) == name.lower())
    existing = session.scalar(select(Schedule).where(same))
    if existing is not None and existing is not current:
        raise Conflict(f"a schedule named {name!r} already exists", field="name")


def create_schedule(
    session: Session,
    *,
    name: str,
    description: str = "",
    timezone: str = "UTC",
    team_id: int | None = None,
    by: User | None = None,
) -> Schedule:
    """A new schedule; in a team, by that team's responders and admins (or org admins)."""
    name = v.text(name, "name", max_len=NAME_MAX, required=True)
    check_change(session, by, team_id, f"schedule {name}")
    _unique_name(session, name, None)
    schedule = Schedule(
        name=name,
        description=v.text(description, "description", max_len=TEXT_MAX),
        timezone=v.timezone(timezone),
        team=catalog.get_team(session, team_id) if team_id is not None else None,
    )
    session.add(schedule)
    session.flush()
    return schedule


def may_change(session: Session, by: User | None, schedule: Schedule) -> None:
    """Raise Forbidden unless `by` may change the schedule (its layers, its settings)."""
    check_change(session, by, schedule.team_id, f"schedule {schedule.name}")


def _on_a_layer(user: User, schedule: Schedule) -> bool:
    return user.can(UserRole.responder) and any(
        user.id in layer.member_ids for layer in schedule.layers
    )


def can_override(session: Session, user: User, schedule: Schedule) -> bool:
    """What `may_override` allows, for pages that show or hide the controls."""
    return _on_a_layer(user, schedule) or scope(session, user).may_change(
        schedule.team_id, UserRole.responder
    )


def may_override(session: Session, by: User | None, schedule: Schedule) -> None:
    """Overrides: whoever may change the schedule, and responders on one of its layers (who
    swap and cover each other's shifts); a schedule of no team, any org responder."""
    if by is not None and _on_a_layer(by, schedule):
        return
    check_change(
        session, by, schedule.team_id, f"schedule {schedule.name}", unowned=UserRole.responder
    )


def update_schedule(
    session: Session, schedule: Schedule, changes: dict[str, Any], *, by: User | None = None
) -> Schedule:
    _only(changes, {"name", "description", "timezone", "team_id"})
    check_move(
        session,
        by,
        schedule.team_id,
        changes.get("team_id", schedule.team_id),
        f"schedule {schedule.name}",
    )
    if "name" in changes:
        schedule.name = v.text(changes["name"], "name", max_len=NAME_MAX, required=True)
        _unique_name(session, schedule.name, schedule)
    if "description" in changes:
        schedule.description = v.text(changes["description"], "description", max_len=TEXT_MAX)
    if "timezone" in changes:
        schedule.timezone = v.timezone(changes["timezone"])
    if "team_id" in changes:
        team_id = changes["team_id"]
        schedule.team = catalog.get_team(session, team_id) if team_id is not None else None
    session.flush()
    return schedule


def delete_schedule(session: Session, schedule: Schedule, *, by: User | None = None) -> None:
    may_change(session, by, schedule)
    with changing(session, schedule, cause="the schedule was deleted", deleting=True):
        session.delete(schedule)
        session.flush()


# Layers --------------------------------------------------------------------------------------


def _hhmm(value: object, field: str, *, allow_24: bool = False) -> str:
    if isinstance(value, time):
        return value.strftime("%H:%M")
    raw = v.text(value, field, max_len=5, required=True)
    hours_text, sep, minutes_text = raw.partition(":")
    hours, minutes = v.digits(hours_text), v.digits(minutes_text)
    if sep and len(minutes_text) == 2 and hours is not None and minutes is not None:
        if hours <= 23 and minutes <= 59:
            return f"{hours:02d}:{minutes_text}"
        if allow_24 and raw == "24:00":
            return "24:00"
    raise ValidationFailed(f"{field} must be a time of day as HH:MM (got {raw!r})", field=field)


def _date(value: object, field: str) -> date:
    if isinstance(value, datetime):
        raise ValidationFailed(f"{field} must be a date (YYYY-MM-DD)", field=field)
    if isinstance(value, date):
        return value
    raw = v.text(value, field, max_len=10, required=True)
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed(
            f"{field} must be a date (YYYY-MM-DD), got {raw!r}", field=field
        ) from exc


def restrictions(value: object, field: str = "restrictions") -> list[dict[str, Any]]:
    """Validated restriction windows: [{"days": ["mon", ...], "start": "HH:MM", "end": "HH:MM"}]."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed(f"{field} must be a list of windows", field=field)
    if len(value) > MAX_RESTRICTIONS:
        raise ValidationFailed(f"{field}: at most {MAX_RESTRICTIONS} windows", field=field)
    out = []
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, dict) or set(item) - {"days", "start", "end"}:
            raise ValidationFailed(f"{where} must have days, start and end", field=field)
        days = item.get("days")
        if not isinstance(days, list) or not days:
            raise ValidationFailed(f"{where}.days must list at least one weekday", field=field)
        names = []
        for day in days:
            name = str(day).strip().lower()[:3]
            if name not in DAYS:
                raise ValidationFailed(
                    f"{where}.days: {day!r} is not a weekday (mon, tue, ..., sun)", field=field
                )
            if name not in names:
                names.append(name)
        names.sort(key=DAYS.index)
        start = _hhmm(item.get("start"), f"{where}.start")
        end = _hhmm(item.get("end"), f"{where}.end", allow_24=True)
        out.append({"days": names, "start": start, "end": end})
    return out


def _member_ids(session: Session, value: object) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise ValidationFailed("members must be a list of user ids", field="member_ids")
    if len(value) > MAX_MEMBERS:
        raise ValidationFailed(f"members: at most {MAX_MEMBERS} turns", field="member_ids")
    found = {u.id: u for u in session.scalars(select(User).where(User.id.in_(set(value))))}
    for user_id in value:
        user = found.get(user_id)
        if user is None:
            raise UnknownReference(f"members: no user with id {user_id}", field="member_ids")
        if not user.active:
            raise ValidationFailed(
                f"members: {user.name} is deactivated and cannot be on call", field="member_ids"
            )
        if not user.is_person:
            raise ValidationFailed(
                f"members: {user.name} is a service account and cannot be on call",
                field="member_ids",
            )
    return list(value)


def _end(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValidationFailed("end must be a date and time", field="end") from exc
    end = v.aware(value, "end")
    return None if end is None else end.astimezone(UTC)


def _apply_layer(session: Session, layer: Layer, data: dict[str, Any]) -> None:
    if "name" in data:
        layer.name = v.text(data["name"], "name", max_len=NAME_MAX, required=True)
    if "kind" in data:
        layer.kind = v.one_of(data["kind"], "kind", [k.value for k in LayerKind])
    if "shift_unit" in data:
        layer.shift_unit = v.one_of(data["shift_unit"], "shift_unit", [u.value for u in ShiftUnit])
    if "shift_length" in data:
        layer.shift_length = v.integer(
            data["shift_length"], "shift_length", minimum=1, maximum=MAX_SHIFT_SECONDS
        )
    if "handoff_time" in data:
        hours, minutes = _hhmm(data["handoff_time"], "handoff_time").split(":")
        layer.handoff_time = time(int(hours), int(minutes))
    if "timezone" in data:
        layer.timezone = v.timezone(data["timezone"])
    if "start_date" in data:
        layer.start_date = _date(data["start_date"], "start_date")
    if "end" in data:
        layer.end = _end(data["end"])
    if "member_ids" in data:
        layer.member_ids = _member_ids(session, data["member_ids"])
    if "restrictions" in data:
        layer.restrictions = restrictions(data["restrictions"])
    if "ical_url" in data:
        url = data["ical_url"]
        layer.ical_url = v.url(url, "ical_url") if url else None
    if "position" in data:
        layer.position = v.integer(data["position"], "position", minimum=0, maximum=10_000)
    _check_layer(session, layer)
    layer.version = new_version()


def _check_layer(session: Session, layer: Layer) -> None:
    seconds = layer.shift_length * UNIT_SECONDS[layer.shift_unit]
    if not MIN_SHIFT_SECONDS <= seconds <= MAX_SHIFT_SECONDS:
        raise ValidationFailed(
            "shift_length: a shift lasts from 1 hour to 366 days", field="shift_length"
        )
    if layer.kind == LayerKind.rotation.value and not layer.member_ids:
        raise ValidationFailed("a rotation needs at least one member", field="member_ids")
    if layer.start_date is None:
        raise ValidationFailed("start_date is required", field="start_date")
    if layer.end is not None:
        first = Rotation.build(
            timezone=layer.timezone,
            start_date=layer.start_date,
            handoff_time=layer.handoff_time,
            shift_seconds=seconds,
            end=None,
            members=(),
            restrictions=[],
        ).start
        if layer.end <= first:
            raise ValidationFailed(
                "end must be after the layer's start (start date and handoff time)", field="end"
            )
    clash = session.scalar(
        select(Layer).where(
            Layer.schedule_id == layer.schedule_id,
            func.lower(Layer.name) == layer.name.lower(),
            Layer.id != (layer.id or 0),
        )
    )
    if clash is not None:
        raise Conflict(f"this schedule already has a layer named {layer.name!r}", field="name")


def add_layer(
    session: Session, schedule: Schedule, data: dict[str, Any], *, by: User | None = None
) -> Layer:
    """A new layer, on top of the others unless `position` says otherwise."""
    may_change(session, by, schedule)
    _only(data, LAYER_FIELDS)
    data = {
        "kind": "rotation",
        "shift_length": 1,
        "shift_unit": "weeks",
        "handoff_time": "09:00",
        "timezone": schedule.timezone,
        "member_ids": [],
        "restrictions": [],
        **data,
    }
    if "start_date" not in data:
        if data["kind"] != LayerKind.ical.value:
            raise ValidationFailed("start_date is required", field="start_date")
        data["start_date"] = utcnow().date()  # unused by calendar layers
    top = session.scalar(select(func.max(Layer.position)).where(Layer.schedule_id == schedule.id))
    layer = Layer(
        schedule_id=schedule.id,
        position=(top + 1) if top is not None else 0,
        name="",
        kind="rotation",
        shift_length=1,
        shift_unit="weeks",
        handoff_time=time(9),
        timezone=schedule.timezone,
        member_ids=[],
        restrictions=[],
        import_report={},
    )
    with changing(session, schedule, cause=f"layer “{data.get('name', '')}” added"):
        with session.no_autoflush:
            _apply_layer(session, layer, data)
        session.add(layer)
        session.flush()
    session.expire(schedule, ["layers"])
    return layer


def update_layer(
    session: Session, layer: Layer, changes: dict[str, Any], *, by: User | None = None
) -> Layer:
    may_change(session, by, layer.schedule)
    _only(changes, LAYER_FIELDS)
    with changing(session, layer.schedule, cause=f"layer “{layer.name}” changed"):
        with session.no_autoflush:
            _apply_layer(session, layer, changes)
        session.flush()
    return layer


def remove_layer(session: Session, layer: Layer, *, by: User | None = None) -> None:
    schedule = layer.schedule
    may_change(session, by, schedule)
    with changing(session, schedule, cause=f"layer “{layer.name}” removed"):
        session.delete(layer)
        session.flush()
    session.expire(schedule, ["layers"])


def reorder_layers(
    session: Session, schedule: Schedule, layer_ids: Iterable[int], *, by: User | None = None
) -> None:
    """Set the order of all the schedule's layers, lowest first (the last one wins)."""
    may_change(session, by, schedule)
    ids = list(layer_ids)
    current = {layer.id: layer for layer in schedule.layers}
    if sorted(ids) != sorted(current):
        raise ValidationFailed(
            "layer_ids must list each of the schedule's layers once", field="layer_ids"
        )
    with changing(session, schedule, cause="layers reordered"):
        for position, layer_id in enumerate(ids):
            current[layer_id].position = position
        session.flush()
    session.expire(schedule, ["layers"])


def move_layer(session: Session, layer: Layer, direction: int, *, by: User | None = None) -> None:
    """Move a layer one place up (+1, wins over more) or down (-1)."""
    may_change(session, by, layer.schedule)
    ids = [item.id for item in layer.schedule.layers]
    index = ids.index(layer.id)
    other = index + (1 if direction > 0 else -1)
    if 0 <= other < len(ids):
        ids[index], ids[other] = ids[other], ids[index]
        reorder_layers(session, layer.schedule, ids)


# Overrides -----------------------------------------------------------------------------------


def _active_user(session: Session, user_id: object, field: str) -> User:
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise ValidationFailed(f"{field} must be a user id", field=field)
    user = session.get(User, user_id)
    if user is None:
        raise UnknownReference(f"{field}: no user with id {user_id}", field=field)
    if not user.active:
        raise ValidationFailed(f"{field}: {user.name} is deactivated", field=field)
    if not user.is_person:
        raise ValidationFailed(
            f"{field}: {user.name} is a service account and cannot be on call", field=field
        )
    return user


def add_override(
    session: Session,
    schedule: Schedule,
    *,
    user_id: int,
    start: datetime,
    end: datetime,
    swap_with_id: int | None = None,
    note: str = "",
    by: User | None = None,
    now: datetime | None = None,
) -> Override:
    """`user` is on call in the schedule for [start, end), whoever the layers say.

    With `swap_with_id`, it is a shift swap: that person must be on call by the layers for
    part of the range. Overrides may not overlap another override of the same schedule."""
    may_override(session, by, schedule)
    user = _active_user(session, user_id, "user_id")
    begin = v.aware(start, "start")
    finish = v.aware(end, "end")
    assert begin is not None and finish is not None
    begin, finish = begin.astimezone(UTC), finish.astimezone(UTC)
    if finish <= begin:
        raise ValidationFailed("end must be after start", field="end")
    if finish <= (now or utcnow()):
        raise ValidationFailed("end is in the past: an override cannot change history", field="end")
    if (finish - begin).days > 366:
        raise ValidationFailed("an override lasts at most 366 days", field="end")
    clash = session.scalar(
        select(Override)
        .where(Override.schedule_id == schedule.id, Override.start < finish, Override.end > begin)
        .order_by(Override.start)
        .limit(1)
    )
    if clash is not None:
        raise Conflict(
            f"start: this range overlaps the override putting {clash.user.name} on call from "
            f"{clash.start:%Y-%m-%d %H:%M} to {clash.end:%Y-%m-%d %H:%M} UTC; remove or "
            "shorten that one first",
            field="start",
        )
    partner = None
    if swap_with_id is not None:
        partner = _active_user(session, swap_with_id, "swap_with_id")
        if partner.id == user.id:
            raise ValidationFailed("swap_with_id: a swap needs two people", field="swap_with_id")
        theirs = oncall.final_shifts(session, schedule.id, begin, finish)
        if not any(s.user_id == partner.id for s in theirs):
            raise ValidationFailed(
                f"swap_with_id: {partner.name} is not on call in that range", field="swap_with_id"
            )
    cause = f"{'swap' if partner else 'override'} by {by.name}" if by else "override added"
    with changing(session, schedule, cause=cause):
        override = Override(
            schedule_id=schedule.id,
            user_id=user.id,
            start=begin,
            end=finish,
            swap_with_id=partner.id if partner else None,
            created_by_id=by.id if by else None,
            note=v.text(note, "note", max_len=TEXT_MAX),
        )
        session.add(override)
        session.flush()
    session.expire(schedule, ["overrides"])
    return override


def remove_override(session: Session, override: Override, *, by: User | None = None) -> None:
    schedule = override.schedule
    may_override(session, by, schedule)
    cause = f"override putting {override.user.name} on call removed" + (
        f" by {by.name}" if by else ""
    )
    with changing(session, schedule, cause=cause):
        session.delete(override)
        session.flush()
    session.expire(schedule, ["overrides"])
