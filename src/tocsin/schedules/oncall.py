"""Who is on call: the final schedule of a window, who is on call at an instant (for one
schedule or a thousand) and until when, gaps, and a person's upcoming shifts.

Everything is computed in memory from a few queries (one per table, never one per schedule):
layers come from `rotation.Rotation`, whose arithmetic finds the shift at an instant in O(1).
Where several sources cover a moment, an override wins, then the layer with the highest
position; a layer only covers its restriction windows, between its start and its end. An
override's shift names the person it covers: whoever the layers put on call under it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.errors import NotFound, ValidationFailed
from tocsin.schedules.models import UNIT_SECONDS, Layer, LayerEvent, LayerKind, Override, Schedule
from tocsin.schedules.rotation import Rotation

CHUNK = 5000  # ids per IN (...) list, well inside SQLite's limit on bound parameters
# Asked about this many schedules or more, read the rows of all of them and keep the wanted
# ones in Python: cheaper than binding (and the database matching) a long IN list.
MANY = 500
# How far ahead `on_call_until_many` follows someone's time on call; past it, "beyond".
UNTIL_HORIZON = timedelta(days=14)


@dataclass(frozen=True)
class Shift:
    """Someone on call in a schedule from `start` to `end`."""

    user_id: int
    start: datetime  # aware UTC
    end: datetime  # aware UTC
    schedule_id: int
    layer_id: int | None  # None for an override
    override_id: int | None
    # Human text, e.g. 'layer "Weekly"', 'override covering Ann' or 'swap covering Bob'.
    source: str
    # An override: the partner of a swap, and whom the layers had on call under this shift
    # (None: nobody; the override's own person: nobody else).
    swap_with_id: int | None = None
    covering_id: int | None = None


@dataclass(slots=True)
class _Layer:
    id: int
    schedule_id: int
    position: int
    name: str
    kind: str
    rotation: Rotation | None  # None for an imported calendar layer
    events: list[tuple[int, datetime, datetime, str]]  # ical layers: (user, start, end, summary)

    @property
    def source(self) -> str:
        return f'layer "{self.name}"'


def _utc(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed(f"{field} must be an aware date and time", field=field)
    return value.astimezone(UTC)


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    unique = list(dict.fromkeys(ids))
    for i in range(0, len(unique), CHUNK):
        yield unique[i : i + CHUNK]


def _rows_for(
    session: Session, query: Any, column: Any, index: int, ids: Sequence[int]
) -> list[Any]:
    """The rows of `query` whose `column` (selected at `index`) is one of `ids`."""
    if len(ids) >= MANY:
        wanted = set(ids)
        return [row for row in session.execute(query) if row[index] in wanted]
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows += session.execute(query.where(column.in_(chunk))).all()
    return rows


_NO_EVENTS: list[Any] = []  # shared by rotation layers (never appended to)

# Each rotation layer's arithmetic, by (layer id, version): built once per change of the layer
# and shared (with the handoffs it has worked out) by every later computation in the process.
_ROTATIONS: dict[tuple[int, int], Rotation] = {}
_ROTATIONS_MAX = 50_000


def _rotations(session: Session, wanted: dict[int, int]) -> dict[int, Rotation]:
    """The Rotation of each layer id (with its version), loading only the ones not cached."""
    out: dict[int, Rotation] = {}
    missing = []
    for layer_id, version in wanted.items():
        found = _ROTATIONS.get((layer_id, version))
        if found is None:
            missing.append(layer_id)
        else:
            out[layer_id] = found
    if len(_ROTATIONS) + len(missing) > _ROTATIONS_MAX:
        _ROTATIONS.clear()
    if not missing:
        return out
    query = select(
        Layer.id,
        Layer.version,
        Layer.shift_length,
        Layer.shift_unit,
        Layer.handoff_time,
        Layer.timezone,
        Layer.start_date,
        Layer.end,
        Layer.member_ids,
        Layer.restrictions,
    )
    for chunk in _chunks(missing):
        for row in session.execute(query.where(Layer.id.in_(chunk))):
            rotation = Rotation.build(
                timezone=row.timezone,
                start_date=row.start_date,
                handoff_time=row.handoff_time,
                shift_seconds=row.shift_length * UNIT_SECONDS[row.shift_unit],
                end=row.end,
                members=row.member_ids or (),
                restrictions=row.restrictions or [],
            )
            _ROTATIONS[(row.id, row.version)] = rotation
            out[row.id] = rotation
    return out


def _load_layers(session: Session, schedule_ids: Sequence[int]) -> dict[int, list[_Layer]]:
    """Every layer of these schedules, highest position first: one small query per CHUNK
    schedules, plus one for the rotations changed since they were last read."""
    columns = (Layer.id, Layer.schedule_id, Layer.position, Layer.name, Layer.kind, Layer.version)
    rows = _rows_for(
        session, select(*columns), Layer.schedule_id, 1, list(dict.fromkeys(schedule_ids))
    )
    rotation = LayerKind.rotation.value
    rotations = _rotations(session, {r[0]: r[5] for r in rows if r[4] == rotation})
    out: dict[int, list[_Layer]] = defaultdict(list)
    for lid, sid, position, name, kind, _ in rows:
        events: list[Any] = [] if kind != rotation else _NO_EVENTS
        out[sid].append(_Layer(lid, sid, position, name, kind, rotations.get(lid), events))
    for layers in out.values():
        layers.sort(key=lambda layer: (-layer.position, -layer.id))
    return out


def _load_events(
    session: Session, layers: dict[int, list[_Layer]], lo: datetime, hi: datetime
) -> None:
    """Fill in the calendar events of ical layers that overlap [lo, hi]."""
    by_id = {layer.id: layer for group in layers.values() for layer in group if not layer.rotation}
    for chunk in _chunks(list(by_id)):
        query = (
            select(
                LayerEvent.layer_id,
                LayerEvent.user_id,
                LayerEvent.start,
                LayerEvent.end,
                LayerEvent.summary,
            )
            .where(LayerEvent.layer_id.in_(chunk), LayerEvent.start <= hi, LayerEvent.end > lo)
            .order_by(LayerEvent.start, LayerEvent.id)
        )
        for layer_id, user_id, start, end, summary in session.execute(query):
            by_id[layer_id].events.append((user_id, start, end, summary))


def _load_overrides(
    session: Session, schedule_ids: Sequence[int], lo: datetime, hi: datetime, *, at: bool
) -> dict[int, list[Shift]]:
    """Overrides overlapping [lo, hi) (or covering lo when `at`), as shifts, by schedule."""
    query = select(
        Override.id,
        Override.schedule_id,
        Override.user_id,
        Override.start,
        Override.end,
        Override.swap_with_id,
    ).where(Override.end > lo)
    query = query.where(Override.start <= lo) if at else query.where(Override.start < hi)
    rows = _rows_for(session, query, Override.schedule_id, 1, list(dict.fromkeys(schedule_ids)))
    rows.sort(key=lambda r: (r[3], r[0]))
    out: dict[int, list[Shift]] = defaultdict(list)
    for oid, sid, user_id, start, end, swap_id in rows:
        kind = "override" if swap_id is None else "swap"
        out[sid].append(Shift(user_id, start, end, sid, None, oid, kind, swap_id))
    return out


def _describe(session: Session, groups: Iterable[list[Shift]]) -> None:
    """Word the overrides among these shifts (in place): whom each covers, in one query."""
    ids: set[int] = set()
    for shifts in groups:
        for shift in shifts:
            if shift.override_id is not None:
                ids.update(i for i in (shift.swap_with_id, shift.covering_id) if i is not None)
    names = _names(session, ids)
    for shifts in groups:
        for index, shift in enumerate(shifts):
            if shift.override_id is not None:
                shifts[index] = replace(shift, source=override_source(shift, names))


def override_source(shift: Shift, names: dict[int, str]) -> str:
    """How an override's shift reads: 'override covering Ann', 'swap covering Bob',
    'swap with Bob, covering Carol', 'override (nobody else was on call)'."""

    def name(user_id: int) -> str:
        return names.get(user_id, f"user {user_id}")

    kind = "swap" if shift.swap_with_id is not None else "override"
    partner = f" with {name(shift.swap_with_id)}" if shift.swap_with_id is not None else ""
    if shift.covering_id is None:
        return f"{kind}{partner} (nobody else was on call)"
    if shift.covering_id == shift.user_id:
        return f"{kind}{partner} (on call by the layers too)"
    if shift.swap_with_id is None or shift.covering_id == shift.swap_with_id:
        return f"{kind} covering {name(shift.covering_id)}"
    return f"{kind}{partner}, covering {name(shift.covering_id)}"


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for chunk in _chunks(list(ids)):
        names.update(session.execute(select(User.id, User.name).where(User.id.in_(chunk))).all())
    return names


def _require_schedule(session: Session, schedule_id: int) -> None:
    if session.get(Schedule, schedule_id) is None:
        raise NotFound(f"no schedule with id {schedule_id}")


# The final schedule ---------------------------------------------------------------------------


def _layer_pieces(layer: _Layer, lo: datetime, hi: datetime) -> list[Shift]:
    """A layer's coverage in [lo, hi) as disjoint shifts, in time order."""
    pieces: list[Shift] = []
    if layer.rotation is not None:
        for user, start, end in layer.rotation.covered(lo, hi):
            pieces.append(Shift(user, start, end, layer.schedule_id, layer.id, None, layer.source))
        return pieces
    previous_end = lo
    for user, start, end, summary in layer.events:
        # Overlapping events within one calendar: the one that started first keeps the time.
        start, end = max(start, lo, previous_end), min(end, hi)
        if end > start:
            source = f'{layer.source} (calendar event "{summary}")' if summary else layer.source
            pieces.append(Shift(user, start, end, layer.schedule_id, layer.id, None, source))
            previous_end = end
    return pieces


def _cut(shift: Shift, start: datetime, end: datetime) -> Shift:
    return replace(shift, start=start, end=end)


def _overlay(base: list[Shift], top: list[Shift]) -> list[Shift]:
    """`top` (sorted, disjoint) painted over `base` (sorted, disjoint): top wins."""
    if not top:
        return base
    out = list(top)
    j = 0
    for shift in base:
        while j < len(top) and top[j].end <= shift.start:
            j += 1
        cursor, k = shift.start, j
        while k < len(top) and top[k].start < shift.end:
            if top[k].start > cursor:
                out.append(_cut(shift, cursor, top[k].start))
            cursor = max(cursor, top[k].end)
            k += 1
        if cursor < shift.end:
            out.append(shift if cursor == shift.start else _cut(shift, cursor, shift.end))
    out.sort(key=lambda s: (s.start, s.end))
    return out


def _covering(base: list[Shift], overrides: list[Shift]) -> list[Shift]:
    """Each override (sorted, disjoint) cut where the person it covers in `base` (the layers'
    final schedule, sorted and disjoint) changes, each piece naming that person."""
    out: list[Shift] = []
    j = 0
    for shift in overrides:
        while j < len(base) and base[j].end <= shift.start:
            j += 1
        cursor, k = shift.start, j
        pieces: list[tuple[datetime, datetime, int | None]] = []
        while cursor < shift.end:
            under = base[k] if k < len(base) and base[k].start < shift.end else None
            if under is None or under.start > cursor:  # nobody under it until `stop`
                stop = shift.end if under is None else under.start
                pieces.append((cursor, stop, None))
                cursor = stop
                continue
            stop = min(under.end, shift.end)
            pieces.append((cursor, stop, under.user_id))
            cursor, k = stop, k + 1
        for start, end, user_id in pieces:
            if out and out[-1].override_id == shift.override_id and out[-1].covering_id == user_id:
                out[-1] = replace(out[-1], end=end)
            else:
                out.append(replace(shift, start=start, end=end, covering_id=user_id))
    return out


def _final(layers: list[_Layer], overrides: list[Shift], lo: datetime, hi: datetime) -> list[Shift]:
    """The final schedule of [lo, hi); overrides name whom they cover but are not worded yet
    (`_describe`)."""
    result: list[Shift] = []
    for layer in reversed(layers):  # lowest position first; each higher one paints over
        result = _overlay(result, _layer_pieces(layer, lo, hi))
    clipped = []
    previous_end = lo
    for shift in overrides:
        start, end = max(shift.start, lo, previous_end), min(shift.end, hi)
        if end > start:
            clipped.append(shift if (start, end) == (shift.start, shift.end) else
                           _cut(shift, start, end))  # fmt: skip
            previous_end = end
    return _overlay(result, _covering(result, clipped))


def final_many(
    session: Session, schedule_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, list[Shift]]:
    """The final schedules of many schedules for [start, end), loaded in a few queries."""
    lo, hi = _utc(start, "start"), _utc(end, "end")
    ids = list(dict.fromkeys(schedule_ids))
    if hi <= lo or not ids:
        return {sid: [] for sid in ids}
    layers = _load_layers(session, ids)
    _load_events(session, layers, lo, hi)
    overrides = _load_overrides(session, ids, lo, hi, at=False)
    out = {sid: _final(layers.get(sid, []), overrides.get(sid, []), lo, hi) for sid in ids}
    _describe(session, out.values())
    return out


@dataclass(frozen=True)
class Layered:
    """The final schedule of a window with what it was made from (for the timeline)."""

    final: list[Shift]
    layers: list[tuple[str, list[Shift]]]  # (layer name, its coverage), highest first
    overrides: list[Shift]


def layered(session: Session, schedule_id: int, start: datetime, end: datetime) -> Layered:
    """`final_shifts` plus each layer's own coverage and the overrides in [start, end)."""
    lo, hi = _utc(start, "start"), _utc(end, "end")
    layers = _load_layers(session, [schedule_id]).get(schedule_id, [])
    _load_events(session, {schedule_id: layers}, lo, hi)
    overrides = _load_overrides(session, [schedule_id], lo, hi, at=False).get(schedule_id, [])
    final = _final(layers, overrides, lo, hi)
    _describe(session, [final])
    # The overrides' own row: each override whole, worded as its pieces in the final schedule.
    pieces: dict[int | None, list[str]] = defaultdict(list)
    for shift in final:
        if shift.override_id is not None:
            pieces[shift.override_id].append(shift.source)
    whole = [
        replace(o, source=", then ".join(pieces[o.override_id]) or o.source) for o in overrides
    ]
    return Layered(
        final,
        [(layer.name, _layer_pieces(layer, lo, hi)) for layer in layers],
        whole,
    )


def final_shifts(session: Session, schedule_id: int, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call in [start, end): disjoint shifts in time order, clipped to the window;
    times nobody covers are simply absent (see `gaps`)."""
    _require_schedule(session, schedule_id)
    return final_many(session, [schedule_id], start, end)[schedule_id]


# On call at an instant ------------------------------------------------------------------------


def on_call_many(
    session: Session, schedule_ids: Sequence[int], at: datetime
) -> dict[int, list[Shift]]:
    """For each schedule, the shifts covering `at` (one person, or nobody: an empty list).

    A shift's start and end are those of what puts the person on call: the override's range,
    or the layer's rotation shift cut to its restriction window and the layer's start and end.
    (A higher layer or an override may take over before `end`: `final_shifts` has the exact
    final schedule.) Unknown schedule ids get an empty list. Three or four queries in all."""
    instant = _utc(at, "at")
    ids = list(dict.fromkeys(schedule_ids))
    if not ids:
        return {}
    layers = _load_layers(session, ids)
    _load_events(session, layers, instant, instant)
    overrides = _load_overrides(session, ids, instant, instant, at=True)
    out: dict[int, list[Shift]] = {}
    for sid in ids:
        out[sid] = _at(layers.get(sid, []), overrides.get(sid, []), instant)
    _describe(session, out.values())
    return out


def _at(layers: list[_Layer], overrides: list[Shift], instant: datetime) -> list[Shift]:
    for shift in overrides:
        if shift.start <= instant < shift.end:
            under = _by_layers(layers, instant)
            return [replace(shift, covering_id=under[0].user_id if under else None)]
    return _by_layers(layers, instant)


def _by_layers(layers: list[_Layer], instant: datetime) -> list[Shift]:
    for layer in layers:  # highest position first
        if layer.rotation is not None:
            found = layer.rotation.covering(instant)
            if found is not None:
                user, start, end = found
                return [Shift(user, start, end, layer.schedule_id, layer.id, None, layer.source)]
            continue
        for user, start, end, summary in layer.events:
            if start <= instant < end:
                source = f'{layer.source} (calendar event "{summary}")' if summary else layer.source
                return [Shift(user, start, end, layer.schedule_id, layer.id, None, source)]
    return []


def on_call(session: Session, schedule_id: int, at: datetime) -> list[Shift]:
    """The shifts covering `at` in one schedule (see `on_call_many`)."""
    _require_schedule(session, schedule_id)
    return on_call_many(session, [schedule_id], at)[schedule_id]


@dataclass(frozen=True)
class OnCallNow:
    """Someone on call at an instant, and when their time on call ends."""

    shift: Shift  # what puts them on call at the instant (see `on_call_many`)
    # When their unbroken time on call ends in the final schedule: their shifts that follow
    # one another, across handoffs between layers, overrides and restriction windows.
    until: datetime
    beyond: bool  # still on call at the horizon: `until` is the horizon, not an end

    @property
    def until_text(self) -> str:
        """'until 2026-11-24 09:00 UTC', or 'until beyond …' at the horizon."""
        return f"until {'beyond ' if self.beyond else ''}{self.until:%Y-%m-%d %H:%M} UTC"


def on_call_until_many(
    session: Session,
    schedule_ids: Sequence[int],
    at: datetime,
    horizon: timedelta = UNTIL_HORIZON,
) -> dict[int, list[OnCallNow]]:
    """For each schedule, who is on call at `at` (as `on_call_many`) and until when, followed
    through the final schedule up to `horizon` ahead."""
    instant = _utc(at, "at")
    current = on_call_many(session, schedule_ids, instant)
    limit = instant + horizon
    finals = final_many(session, [sid for sid, found in current.items() if found], instant, limit)
    out: dict[int, list[OnCallNow]] = {}
    for sid, found in current.items():
        out[sid] = [_until(shift, finals.get(sid, []), instant, limit) for shift in found]
    return out


def _until(shift: Shift, final: list[Shift], instant: datetime, limit: datetime) -> OnCallNow:
    """Follow `shift`'s person through `final` (the window [instant, limit)) while each next
    shift is theirs and starts where the last one ended."""
    cursor = instant
    for piece in final:
        if piece.start != cursor or piece.user_id != shift.user_id:
            break
        cursor = piece.end
    if cursor == instant:  # the final schedule disagrees: keep what put them on call
        return OnCallNow(shift, shift.end, False)
    return OnCallNow(shift, cursor, cursor >= limit)


# Gaps and a person's shifts ---------------------------------------------------------------


def uncovered(
    shifts: list[Shift], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) that no shift covers."""
    holes = []
    cursor = start
    for shift in shifts:
        if shift.start > cursor:
            holes.append((cursor, shift.start))
        cursor = max(cursor, shift.end)
    if cursor < end:
        holes.append((cursor, end))
    return holes


def gaps(
    session: Session, schedule_id: int, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The ranges within [start, end) when nobody is on call in the schedule."""
    lo, hi = _utc(start, "start"), _utc(end, "end")
    return uncovered(final_shifts(session, schedule_id, lo, hi), lo, hi)


def gaps_many(
    session: Session, schedule_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    """`gaps` for many schedules at once."""
    lo, hi = _utc(start, "start"), _utc(end, "end")
    finals = final_many(session, schedule_ids, lo, hi)
    return {sid: uncovered(shifts, lo, hi) if hi > lo else [] for sid, shifts in finals.items()}


def schedules_of(session: Session, user_id: int, start: datetime, end: datetime) -> list[int]:
    """Ids of the schedules in which the user could be on call during [start, end)."""
    ids: set[int] = set()
    layers = session.execute(
        select(Layer.schedule_id, Layer.member_ids).where(Layer.kind == LayerKind.rotation.value)
    )
    ids.update(sid for sid, members in layers if user_id in (members or ()))
    ids.update(
        session.scalars(
            select(Override.schedule_id).where(
                Override.user_id == user_id, Override.start < end, Override.end > start
            )
        )
    )
    ids.update(
        session.scalars(
            select(Layer.schedule_id)
            .join(LayerEvent, LayerEvent.layer_id == Layer.id)
            .where(LayerEvent.user_id == user_id, LayerEvent.start < end, LayerEvent.end > start)
        )
    )
    return sorted(ids)


def upcoming_shifts(session: Session, user_id: int, start: datetime, end: datetime) -> list[Shift]:
    """The user's shifts in the final schedules of every schedule, in [start, end), by time."""
    lo, hi = _utc(start, "start"), _utc(end, "end")
    finals = final_many(session, schedules_of(session, user_id, lo, hi), lo, hi)
    mine = [s for shifts in finals.values() for s in shifts if s.user_id == user_id]
    return sorted(mine, key=lambda s: (s.start, s.schedule_id))


def as_dict(shift: Shift) -> dict[str, Any]:
    """A shift as JSON-ready data (times in ISO 8601 UTC)."""
    return {
        "user_id": shift.user_id,
        "start": shift.start.isoformat(),
        "end": shift.end.isoformat(),
        "schedule_id": shift.schedule_id,
        "layer_id": shift.layer_id,
        "override_id": shift.override_id,
        "source": shift.source,
    }
