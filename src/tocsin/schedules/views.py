"""Schedule pages: the list (who is on call now, next handoff, gaps), a schedule's page with
its timeline, layer editor and overrides, and the public iCal feeds (secret URLs).

Every change goes through a service function; the request commits."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from tocsin.catalog import permissions
from tocsin.catalog.models import Team, User
from tocsin.db import utcnow
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import NotFound, ValidationFailed
from tocsin.schedules import feeds, ical_import, queries, service, webforms
from tocsin.schedules.models import Schedule
from tocsin.schedules.oncall import Shift, layered, uncovered, upcoming_shifts
from tocsin.schedules.rotation import zone
from tocsin.schedules.timeline import HEAD, ROW, Row, Scale, Timeline, gap_bars, shift_bars, ticks
from tocsin.validation import digits
from tocsin.validation import timezone as valid_timezone
from tocsin.web.actions import perform
from tocsin.web.forms import Form, local_datetime, optional_int, redirect, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
SPANS = (7, 14, 28)


def _tz(user: User) -> ZoneInfo:
    try:
        return zone(user.timezone)
    except Exception:  # noqa: BLE001 - a stored zone that this machine lacks: show UTC
        return zone("UTC")


def _people(db: Session) -> list[User]:
    return list(
        db.scalars(select(User).where(User.active.is_(True), User.is_person).order_by(User.name))
    )


# The list -----------------------------------------------------------------------------------


@router.get("/schedules")
def schedules_page(
    request: Request, db: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    now = utcnow()
    rows = queries.summaries(db, now, settings.schedule_gap_weeks)
    ids = {s.user_id for r in rows for s in r.on_call} | {
        r.next_user_id for r in rows if r.next_user_id
    }
    feed = feeds.user_feed(db, user)
    context = {
        "section": "schedules",
        "rows": rows,
        "users": queries.users_by_id(db, ids),
        "weeks": settings.schedule_gap_weeks,
        "teams": list(db.scalars(select(Team).order_by(Team.name))),
        "scope": permissions.scope(db, user),
        "my_feed": feeds.feed_url(feed, settings.secret_key, settings.base_url),
        "upcoming": upcoming_context(db, user, now),
        "tz": user.timezone,
    }
    return render(request, "schedules/list.html", context)


@router.post("/schedules")
def create_schedule(db: DbSession, user: Responder, form: Form) -> Response:
    created: list[Schedule] = []

    def action() -> None:
        created.append(
            service.create_schedule(
                db,
                name=text(form, "name"),
                description=text(form, "description"),
                timezone=text(form, "timezone") or user.timezone,
                team_id=optional_int(form, "team_id"),
                by=user,
            )
        )

    response = perform(db, "/schedules", action)
    if created:
        return redirect(f"/schedules/{created[0].id}", notice="Schedule created. Add a layer.")
    return response


@router.post("/schedules/my-feed/regenerate")
def regenerate_my_feed(db: DbSession, user: CurrentUser) -> Response:
    feeds.regenerate(db, feeds.user_feed(db, user))
    return redirect(
        "/schedules", notice="Your calendar has a new secret URL; the old one no longer works."
    )


def upcoming_context(db: Session, user: User, now: datetime, days: int = 28) -> dict[str, Any]:
    """What templates/schedules/_upcoming.html needs: the user's shifts in the coming days."""
    shifts = upcoming_shifts(db, user.id, now, now + timedelta(days=days))
    ids = {s.schedule_id for s in shifts}
    query = select(Schedule.id, Schedule.name).where(Schedule.id.in_(ids))
    names = dict(db.execute(query).all()) if ids else {}
    return {
        "days": days,
        "shifts": [
            {"shift": s, "schedule_name": names.get(s.schedule_id, ""), "now": s.start <= now}
            for s in shifts
        ],
    }


# A schedule's page ------------------------------------------------------------------------


def _window(request: Request, tz: ZoneInfo) -> tuple[datetime, datetime, int, date]:
    days = digits(request.query_params.get("days", "14")) or 14
    if days not in SPANS:
        days = 14
    try:
        first = date.fromisoformat(request.query_params.get("start", ""))
    except ValueError:
        first = utcnow().astimezone(tz).date()
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(first + timedelta(days=days), datetime.min.time(), tzinfo=tz)
    return start, end, days, first


def _timeline(
    db: Session, schedule: Schedule, start: datetime, end: datetime, tz: ZoneInfo
) -> tuple[Timeline, list[Shift], dict[int, User]]:
    parts = layered(db, schedule.id, start, end)
    final = parts.final
    ids = {s.user_id for s in final} | queries.people_of(schedule)
    users = queries.users_by_id(db, ids)
    scale = Scale(start, end)
    rows = [Row("Final schedule", HEAD)]
    rows[0].bars = shift_bars(final, scale, users, tz, with_source=True)
    rows[0].bars += gap_bars(uncovered(final, start, end), scale, tz)
    y = HEAD + ROW
    for name, pieces in parts.layers:  # highest first, as they win
        row = Row(name, y)
        row.bars = shift_bars(pieces, scale, users, tz, with_source=False)
        rows.append(row)
        y += ROW
    override_row = Row("Overrides", y)
    override_row.bars = shift_bars(parts.overrides, scale, users, tz, with_source=True)
    rows.append(override_row)
    now = utcnow()
    timeline = Timeline(
        start=start, end=end, rows=rows, ticks=ticks(start, end, tz, scale),
        height=y + ROW + 4, now_x=scale.x(now) if start <= now < end else None,
    )  # fmt: skip
    return timeline, final, users


@router.get("/schedules/{schedule_id}")
def schedule_page(
    schedule_id: int, request: Request, db: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    schedule = service.get_schedule(db, schedule_id)
    tz = _tz(user)
    start, end, days, first = _window(request, tz)
    timeline, final, users = _timeline(db, schedule, start, end, tz)
    now = utcnow()
    (summary,) = queries.summaries(db, now, settings.schedule_gap_weeks, [schedule])
    users.update(
        queries.users_by_id(
            db,
            {s.user_id for s in summary.on_call}
            | ({summary.next_user_id} if summary.next_user_id else set()),
        )
    )
    feed = feeds.schedule_feed(db, schedule)
    context = {
        "section": "schedules",
        "schedule": schedule,
        "summary": summary,
        "timeline": timeline,
        "final": final,
        "users": users,
        "days": days,
        "spans": SPANS,
        "first": first,
        "previous": first - timedelta(days=days),
        "next": first + timedelta(days=days),
        "overrides": service.overrides(db, schedule, since=now),
        "people": _people(db),
        "teams": list(db.scalars(select(Team).order_by(Team.name))),
        "scope": permissions.scope(db, user),
        "can_override": service.can_override(db, user, schedule),
        "emails": {u.id: u.email for u in users.values()},
        "restrictions_text": webforms.restrictions_text,
        "weeks": settings.schedule_gap_weeks,
        "feed_url": feeds.feed_url(feed, settings.secret_key, settings.base_url),
        "tz": user.timezone,
        "today": utcnow().date().isoformat(),
    }
    return render(request, "schedules/detail.html", context)


def _back(schedule_id: int) -> str:
    return f"/schedules/{schedule_id}"


@router.post("/schedules/{schedule_id}")
def update_schedule(schedule_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    schedule = service.get_schedule(db, schedule_id)
    changes = {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "timezone": text(form, "timezone"),
        "team_id": optional_int(form, "team_id"),
    }
    return perform(
        db,
        _back(schedule_id),
        lambda: service.update_schedule(db, schedule, changes, by=user),
        notice="Schedule saved.",
    )


@router.post("/schedules/{schedule_id}/delete")
def delete_schedule(schedule_id: int, db: DbSession, user: Responder) -> Response:
    schedule = service.get_schedule(db, schedule_id)
    name = schedule.name
    service.delete_schedule(db, schedule, by=user)
    return redirect("/schedules", notice=f"Schedule {name!r} deleted.")


# Layers -------------------------------------------------------------------------------------


def _layer_form(db: Session, form: FormData, tz: str) -> dict[str, Any]:
    kind = text(form, "kind") or "rotation"
    data: dict[str, Any] = {
        "name": text(form, "name"),
        "kind": kind,
        "shift_length": optional_int(form, "shift_length") or 1,
        "shift_unit": text(form, "shift_unit") or "weeks",
        "handoff_time": text(form, "handoff_time") or "09:00",
        "timezone": valid_timezone(text(form, "timezone") or tz),
        "end": local_datetime(form, "end", tz),
        "member_ids": webforms.members_from_text(db, text(form, "members")),
        "restrictions": webforms.restrictions_from_text(text(form, "restrictions")),
        "ical_url": text(form, "ical_url").strip() or None,
    }
    if text(form, "start_date") or kind != "ical":
        data["start_date"] = text(form, "start_date")
    return data


@router.post("/schedules/{schedule_id}/layers")
def add_layer(schedule_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    schedule = service.get_schedule(db, schedule_id)

    def action() -> None:
        service.add_layer(db, schedule, _layer_form(db, form, user.timezone), by=user)

    return perform(db, _back(schedule_id), action, notice="Layer added.")


@router.post("/schedules/{schedule_id}/layers/{layer_id}")
def update_layer(
    schedule_id: int, layer_id: int, db: DbSession, user: Responder, form: Form
) -> Response:
    schedule = service.get_schedule(db, schedule_id)
    layer = service.get_layer(db, schedule, layer_id)

    def action() -> None:
        service.update_layer(db, layer, _layer_form(db, form, user.timezone), by=user)

    return perform(db, _back(schedule_id), action, notice="Layer saved.")


@router.post("/schedules/{schedule_id}/layers/{layer_id}/delete")
def remove_layer(schedule_id: int, layer_id: int, db: DbSession, user: Responder) -> Response:
    schedule = service.get_schedule(db, schedule_id)
    service.remove_layer(db, service.get_layer(db, schedule, layer_id), by=user)
    return redirect(_back(schedule_id), notice="Layer removed.")


@router.post("/schedules/{schedule_id}/layers/{layer_id}/move")
def move_layer(
    schedule_id: int, layer_id: int, db: DbSession, user: Responder, form: Form
) -> Response:
    schedule = service.get_schedule(db, schedule_id)
    layer = service.get_layer(db, schedule, layer_id)
    service.move_layer(db, layer, 1 if text(form, "direction") == "up" else -1, by=user)
    return redirect(_back(schedule_id))


@router.post("/schedules/{schedule_id}/layers/{layer_id}/import")
def import_layer(
    schedule_id: int, layer_id: int, db: DbSession, user: Responder, settings: AppSettings,
    form: Form,
) -> Response:  # fmt: skip
    """Import an uploaded .ics file, or (with no file) fetch the layer's calendar URL."""
    schedule = service.get_schedule(db, schedule_id)
    layer = service.get_layer(db, schedule, layer_id)
    upload = form.get("file")
    reports: list[dict[str, Any]] = []

    def action() -> None:
        if isinstance(upload, UploadFile) and upload.filename:
            data = upload.file.read(ical_import.MAX_BYTES + 1)
            name = upload.filename
            reports.append(ical_import.import_calendar(db, layer, data, source=name, by=user))
        else:
            guard = ical_import.calendar_guard(settings)
            reports.append(ical_import.import_url(db, layer, guard=guard, by=user))

    response = perform(db, _back(schedule_id), action)
    if reports:
        report = reports[0]
        notice = f"Imported {report['imported']} shift(s)."
        if report["unmatched_count"]:
            notice += f" {report['unmatched_count']} event(s) matched nobody: see the layer."
        return redirect(_back(schedule_id), notice=notice)
    return response


# Overrides ----------------------------------------------------------------------------------


@router.post("/schedules/{schedule_id}/overrides")
def add_override(schedule_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    schedule = service.get_schedule(db, schedule_id)

    def action() -> None:
        start = local_datetime(form, "start", user.timezone)
        end = local_datetime(form, "end", user.timezone)
        if start is None:
            raise ValidationFailed("start: pick when the override starts", field="start")
        if end is None:
            raise ValidationFailed("end: pick when the override ends", field="end")
        user_id = optional_int(form, "user_id")
        if user_id is None:
            raise ValidationFailed("user_id: pick who is on call", field="user_id")
        service.add_override(
            db, schedule, user_id=user_id, start=start, end=end,
            swap_with_id=optional_int(form, "swap_with_id"), note=text(form, "note"), by=user,
        )  # fmt: skip

    return perform(db, _back(schedule_id), action, notice="Override added.")


@router.post("/schedules/{schedule_id}/overrides/{override_id}/delete")
def remove_override(schedule_id: int, override_id: int, db: DbSession, user: Responder) -> Response:
    schedule = service.get_schedule(db, schedule_id)
    service.remove_override(db, service.get_override(db, schedule, override_id), by=user)
    return redirect(_back(schedule_id), notice="Override removed.")


@router.post("/schedules/{schedule_id}/ical-feed/regenerate")
def regenerate_feed(schedule_id: int, db: DbSession, admin: Admin) -> Response:
    feeds.regenerate(db, feeds.schedule_feed(db, service.get_schedule(db, schedule_id)))
    return redirect(
        _back(schedule_id), notice="The calendar has a new secret URL; the old one no longer works."
    )


# Public feeds (the secret token is the credential) ------------------------------------------


def _ics(body: bytes) -> Response:
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300", "Referrer-Policy": "no-referrer"},
    )


@router.get("/ical/schedules/{token}.ics")
def schedule_ics(token: str, db: DbSession, settings: AppSettings) -> Response:
    feed = feeds.feed_by_token(db, token, settings.secret_key)
    if feed is None or feed.schedule_id is None:
        raise NotFound("no such calendar")
    schedule = service.get_schedule(db, feed.schedule_id)
    return _ics(feeds.schedule_calendar(db, schedule, utcnow(), settings.base_url))


@router.get("/ical/users/{token}.ics")
def user_ics(token: str, db: DbSession, settings: AppSettings) -> Response:
    feed = feeds.feed_by_token(db, token, settings.secret_key)
    if feed is None or feed.user_id is None:
        raise NotFound("no such calendar")
    person = db.get(User, feed.user_id)
    if person is None or not person.active:
        raise NotFound("no such calendar")
    return _ics(feeds.user_calendar(db, person, utcnow(), settings.base_url))
