"""JSON routes for schedules: everyone reads, responders add and remove overrides (and
swaps), admins change schedules and layers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, UploadFile

from tocsin.catalog.schemas import Aware
from tocsin.db import utcnow
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import ValidationFailed
from tocsin.schedules import feeds, ical_import, queries, service
from tocsin.schedules.models import Schedule
from tocsin.schedules.oncall import final_shifts, gaps, on_call, on_call_many, upcoming_shifts
from tocsin.schedules.schemas import (
    FeedOut,
    GapOut,
    ImportOut,
    LayerIn,
    LayerOrder,
    LayerOut,
    LayerPatch,
    OverrideIn,
    OverrideOut,
    ScheduleIn,
    ScheduleOut,
    SchedulePatch,
    ScheduleSummary,
    ShiftOut,
    gap_out,
    layer_out,
    override_out,
    schedule_out,
    shift_out,
)
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["schedules"])

ScheduleId = Annotated[int, Path(ge=1, le=2**31 - 1)]
LayerId = Annotated[int, Path(ge=1, le=2**31 - 1)]
OverrideId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_WINDOW = timedelta(days=366)


def _aware(value: datetime | None, field: str, default: datetime) -> datetime:
    if value is None:
        return default
    if value.tzinfo is None:
        raise ValidationFailed(f"{field} must include a time zone offset", field=field)
    return value


def _window(
    start: datetime | None, end: datetime | None, days: int = 14
) -> tuple[datetime, datetime]:
    lo = _aware(start, "start", utcnow())
    hi = _aware(end, "end", lo + timedelta(days=days))
    if hi <= lo:
        raise ValidationFailed("end must be after start", field="end")
    if hi - lo > MAX_WINDOW:
        raise ValidationFailed("a window spans at most 366 days", field="end")
    return lo, hi


def _full(db: DbSession, schedule: Schedule, weeks: int) -> ScheduleOut:
    now = utcnow()
    current = on_call(db, schedule.id, now)
    holes = gaps(db, schedule.id, now, now + timedelta(weeks=weeks))
    users = queries.users_by_id(db, queries.people_of(schedule) | {s.user_id for s in current})
    return schedule_out(schedule, users, current, holes)


Weeks = Annotated[int | None, Query(ge=1, le=52, description="Weeks ahead to look for gaps")]


# --- schedules --------------------------------------------------------------------------


@router.get("/schedules", response_model=list[ScheduleSummary])
def list_schedules(
    db: DbSession, user: CurrentUser, settings: AppSettings, weeks: Weeks = None
) -> list[ScheduleSummary]:
    """Every schedule with who is on call now and the gaps in the coming weeks."""
    rows = queries.summaries(db, utcnow(), weeks or settings.schedule_gap_weeks)
    users = queries.users_by_id(db, {s.user_id for r in rows for s in r.on_call})
    return [
        ScheduleSummary(
            id=r.schedule.id,
            name=r.schedule.name,
            timezone=r.schedule.timezone,
            team={"id": r.schedule.team.id, "name": r.schedule.team.name}
            if r.schedule.team
            else None,
            on_call_now=[shift_out(s, users) for s in r.on_call],
            gaps=[gap_out(g) for g in r.gaps],
        )
        for r in rows
    ]


@router.post("/schedules", status_code=201, response_model=ScheduleOut, responses=errors(404))
def create_schedule(
    body: ScheduleIn, db: DbSession, user: Responder, settings: AppSettings
) -> ScheduleOut:
    """A new schedule; in a team, by its responders and admins (or org admins)."""
    schedule = service.create_schedule(db, **body.model_dump(), by=user)
    return _full(db, schedule, settings.schedule_gap_weeks)


@router.get("/schedules/{schedule_id}", response_model=ScheduleOut)
def get_schedule(
    schedule_id: ScheduleId,
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    weeks: Weeks = None,
) -> ScheduleOut:
    """A schedule with its layers, who is on call now and the gaps in the coming weeks."""
    schedule = service.get_schedule(db, schedule_id)
    return _full(db, schedule, weeks or settings.schedule_gap_weeks)


@router.patch("/schedules/{schedule_id}", response_model=ScheduleOut)
def update_schedule(
    schedule_id: ScheduleId,
    body: SchedulePatch,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
) -> ScheduleOut:
    schedule = service.get_schedule(db, schedule_id)
    service.update_schedule(db, schedule, body.model_dump(exclude_unset=True), by=user)
    return _full(db, schedule, settings.schedule_gap_weeks)


@router.delete("/schedules/{schedule_id}", status_code=204, response_class=Response)
def delete_schedule(schedule_id: ScheduleId, db: DbSession, user: Responder) -> Response:
    service.delete_schedule(db, service.get_schedule(db, schedule_id), by=user)
    return Response(status_code=204)


# --- layers -----------------------------------------------------------------------------


def _layer_data(body: LayerIn | LayerPatch, *, patch: bool) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=patch)
    if not patch:
        data = {k: v for k, v in data.items() if v is not None or k in ("end",)}
    if data.get("restrictions") is not None:
        data["restrictions"] = [dict(r) for r in data["restrictions"]]
    return data


@router.post("/schedules/{schedule_id}/layers", status_code=201, response_model=LayerOut)
def add_layer(schedule_id: ScheduleId, body: LayerIn, db: DbSession, user: Responder) -> LayerOut:
    """Add a layer on top (or at `position`). Rotations need members and a start date."""
    schedule = service.get_schedule(db, schedule_id)
    layer = service.add_layer(db, schedule, _layer_data(body, patch=False), by=user)
    return layer_out(layer, queries.users_by_id(db, layer.member_ids))


# `{layer_id:int}`: only digits name a layer, so that `/layers/order` is never read as a layer
# (a PATCH or DELETE of it is a 405, as for any method the path does not have).
@router.patch("/schedules/{schedule_id}/layers/{layer_id:int}", response_model=LayerOut)
def update_layer(
    schedule_id: ScheduleId, layer_id: LayerId, body: LayerPatch, db: DbSession, user: Responder
) -> LayerOut:
    schedule = service.get_schedule(db, schedule_id)
    layer = service.update_layer(
        db, service.get_layer(db, schedule, layer_id), _layer_data(body, patch=True), by=user
    )
    return layer_out(layer, queries.users_by_id(db, layer.member_ids))


@router.delete(
    "/schedules/{schedule_id}/layers/{layer_id:int}", status_code=204, response_class=Response
)
def remove_layer(
    schedule_id: ScheduleId, layer_id: LayerId, db: DbSession, user: Responder
) -> Response:
    schedule = service.get_schedule(db, schedule_id)
    service.remove_layer(db, service.get_layer(db, schedule, layer_id), by=user)
    return Response(status_code=204)


@router.put("/schedules/{schedule_id}/layers/order", response_model=list[LayerOut])
def reorder_layers(
    schedule_id: ScheduleId, body: LayerOrder, db: DbSession, user: Responder
) -> list[LayerOut]:
    """Set the order of the layers, lowest first: where layers overlap, the last one wins."""
    schedule = service.get_schedule(db, schedule_id)
    service.reorder_layers(db, schedule, body.layer_ids, by=user)
    users = queries.users_by_id(db, queries.people_of(schedule))
    return [layer_out(layer, users) for layer in schedule.layers]


@router.post("/schedules/{schedule_id}/layers/{layer_id}/import", response_model=ImportOut)
def import_layer(
    schedule_id: ScheduleId,
    layer_id: LayerId,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
    file: UploadFile | None = None,
) -> ImportOut:
    """Import an iCalendar file (multipart field `file`) into a layer of kind ical, or, with
    no file, fetch the layer's `ical_url`. Replaces the layer's events; events that match
    nobody are listed in the answer (and on the layer)."""
    # A plain function: FastAPI runs it in its thread pool, so the database work and the
    # fetch (up to 10 s per redirect) never hold up the event loop that takes alerts.
    schedule = service.get_schedule(db, schedule_id)
    layer = service.get_layer(db, schedule, layer_id)
    if file is not None:
        data = file.file.read(ical_import.MAX_BYTES + 1)
        report = ical_import.import_calendar(
            db, layer, data, source=file.filename or "upload", by=user
        )
    else:
        guard = ical_import.calendar_guard(settings)
        report = ical_import.import_url(db, layer, guard=guard, by=user)
    return ImportOut(**report)


# --- overrides --------------------------------------------------------------------------


@router.get("/schedules/{schedule_id}/overrides", response_model=list[OverrideOut])
def list_overrides(
    schedule_id: ScheduleId, db: DbSession, user: CurrentUser, include_past: bool = False
) -> list[OverrideOut]:
    schedule = service.get_schedule(db, schedule_id)
    since = None if include_past else utcnow()
    return [override_out(o) for o in service.overrides(db, schedule, since=since)]


@router.post("/schedules/{schedule_id}/overrides", status_code=201, response_model=OverrideOut)
def add_override(
    schedule_id: ScheduleId, body: OverrideIn, db: DbSession, user: Responder
) -> OverrideOut:
    """Put someone on call for a range; with `swap_with_id`, a shift swap. Overrides of one
    schedule may not overlap (409 naming `start`)."""
    schedule = service.get_schedule(db, schedule_id)
    return override_out(service.add_override(db, schedule, **body.model_dump(), by=user))


@router.delete(
    "/schedules/{schedule_id}/overrides/{override_id}", status_code=204, response_class=Response
)
def remove_override(
    schedule_id: ScheduleId, override_id: OverrideId, db: DbSession, user: Responder
) -> Response:
    schedule = service.get_schedule(db, schedule_id)
    service.remove_override(db, service.get_override(db, schedule, override_id), by=user)
    return Response(status_code=204)


# --- computed views ---------------------------------------------------------------------


@router.get("/schedules/{schedule_id}/final", response_model=list[ShiftOut])
def final_schedule(
    schedule_id: ScheduleId,
    db: DbSession,
    user: CurrentUser,
    start: Aware | None = None,
    end: Aware | None = None,
) -> list[ShiftOut]:
    """The final schedule for [start, end) (default: the next 14 days; at most 366 days)."""
    lo, hi = _window(start, end)
    shifts = final_shifts(db, schedule_id, lo, hi)
    users = queries.users_by_id(db, {s.user_id for s in shifts})
    return [shift_out(s, users) for s in shifts]


@router.get("/schedules/{schedule_id}/oncall", response_model=list[ShiftOut])
def who_is_on_call(
    schedule_id: ScheduleId, db: DbSession, user: CurrentUser, at: Aware | None = None
) -> list[ShiftOut]:
    """Who is on call now, or at `at` (an empty list: nobody)."""
    shifts = on_call(db, schedule_id, _aware(at, "at", utcnow()))
    return [shift_out(s, queries.users_by_id(db, {s.user_id for s in shifts})) for s in shifts]


@router.get("/schedules/{schedule_id}/gaps", response_model=list[GapOut])
def schedule_gaps(
    schedule_id: ScheduleId, db: DbSession, user: CurrentUser, settings: AppSettings,
    weeks: Weeks = None, start: Aware | None = None,
) -> list[GapOut]:  # fmt: skip
    """When nobody is on call, from `start` (default now) for `weeks` weeks."""
    lo = _aware(start, "start", utcnow())
    hi = lo + timedelta(weeks=weeks or settings.schedule_gap_weeks)
    return [gap_out(g) for g in gaps(db, schedule_id, lo, hi)]


@router.get("/oncall", response_model=dict[str, list[ShiftOut]])
def everyone_on_call(
    db: DbSession, user: CurrentUser, at: Aware | None = None
) -> dict[str, list[ShiftOut]]:
    """Who is on call in every schedule (keys are schedule ids), now or at `at`."""
    schedules = service.list_schedules(db)
    found = on_call_many(db, [s.id for s in schedules], _aware(at, "at", utcnow()))
    users = queries.users_by_id(db, {s.user_id for shifts in found.values() for s in shifts})
    return {str(sid): [shift_out(s, users) for s in shifts] for sid, shifts in found.items()}


@router.get("/schedules/shifts/upcoming", response_model=list[ShiftOut])
def shifts_of(
    db: DbSession,
    user: CurrentUser,
    user_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    start: Aware | None = None,
    end: Aware | None = None,
) -> list[ShiftOut]:
    """A person's shifts in every schedule (default: yours, the next 14 days)."""
    lo, hi = _window(start, end)
    shifts = upcoming_shifts(db, user_id or user.id, lo, hi)
    users = queries.users_by_id(db, {s.user_id for s in shifts})
    return [shift_out(s, users) for s in shifts]


# --- calendar feeds ---------------------------------------------------------------------


@router.get("/schedules/{schedule_id}/ical-feed", response_model=FeedOut)
def schedule_feed(
    schedule_id: ScheduleId, db: DbSession, user: CurrentUser, settings: AppSettings
) -> FeedOut:
    """The schedule's secret iCal URL (made on first use)."""
    feed = feeds.schedule_feed(db, service.get_schedule(db, schedule_id))
    return FeedOut(url=feeds.feed_url(feed, settings.secret_key, settings.base_url))


@router.post("/schedules/{schedule_id}/ical-feed/regenerate", response_model=FeedOut)
def regenerate_schedule_feed(
    schedule_id: ScheduleId, db: DbSession, admin: Admin, settings: AppSettings
) -> FeedOut:
    """A new secret URL for the schedule's feed; the old one stops working."""
    feed = feeds.regenerate(db, feeds.schedule_feed(db, service.get_schedule(db, schedule_id)))
    return FeedOut(url=feeds.feed_url(feed, settings.secret_key, settings.base_url))


@router.get("/schedules/feeds/mine", response_model=FeedOut)
def my_feed(db: DbSession, user: CurrentUser, settings: AppSettings) -> FeedOut:
    """Your own secret iCal URL: your shifts in every schedule."""
    feed = feeds.user_feed(db, user)
    return FeedOut(url=feeds.feed_url(feed, settings.secret_key, settings.base_url))


@router.post("/schedules/feeds/mine/regenerate", response_model=FeedOut)
def regenerate_my_feed(db: DbSession, user: CurrentUser, settings: AppSettings) -> FeedOut:
    feed = feeds.regenerate(db, feeds.user_feed(db, user))
    return FeedOut(url=feeds.feed_url(feed, settings.secret_key, settings.base_url))
