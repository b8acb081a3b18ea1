"""Insights → On-call load: the page, its CSV exports and its JSON (docs/insights.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.deps import CurrentUser, DbSession
from tocsin.errors import ValidationFailed
from tocsin.insights import charts, on_call
from tocsin.insights.export import csv_response
from tocsin.insights.filters import Filters
from tocsin.insights.load import Hours, Load, compute
from tocsin.insights.load_schemas import OnCallLoadOut, load_out
from tocsin.insights.shifts import ROTATION_TABLES, Rotations, rotations
from tocsin.insights.stats import duration_text
from tocsin.insights.web import ApiFilters, filters_of, section_page

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["insights"])

TOP_PEOPLE = 20

# A CSV table: its header and rows.
Table = tuple[list[str], Sequence[Sequence[object]]]


def _load(request: Request, session: Session, f: Filters, viewer: User) -> Load:
    settings: Settings = request.app.state.settings
    return compute(
        session,
        f,
        viewer,
        working_days=settings.working_days,
        working_hours=settings.working_hours,
    )


def _rotations(request: Request, session: Session, f: Filters, viewer: User) -> Rotations:
    settings: Settings = request.app.state.settings
    hours = Hours.parse(settings.working_days, settings.working_hours)
    return rotations(session, f, viewer, hours=hours)


def share(part: int, whole: int) -> str:
    """ "25%"; "—" of nothing."""
    return f"{round(100 * part / whole)}%" if whole else "—"


def week_query(f: Filters, start: dt.date) -> str:
    """The query string of these filters over the week starting `start` (a range)."""
    end = start + dt.timedelta(days=6)
    return f.query(period=None, date=None, **{"from": start.isoformat(), "to": end.isoformat()})


def _charts(f: Filters, load: Load) -> dict[str, Any]:
    people = charts.bars(
        [
            charts.Bar(
                label=p.name,
                value=p.pages,
                text=f"{p.pages} ({share(p.out_of_hours, p.pages)} out of hours)",
            )
            for p in load.people[:TOP_PEOPLE]
        ],
        title=f"Pages per person, the {min(TOP_PEOPLE, len(load.people))} most paged",
    )
    weeks = charts.columns(
        [
            charts.Point(
                label=w.start.strftime("%d %b"),
                value=w.pages,
                text=f"{w.pages} pages, {w.out_of_hours} out of hours",
                href=f"/insights/on-call?{week_query(f, w.start)}",
            )
            for w in load.weeks
        ],
        title="Pages per week",
    )
    return {"people_chart": people, "weeks_chart": weeks}


def _both(request: Request, session: Session, f: Filters, viewer: User) -> tuple[Load, Rotations]:
    settings: Settings = request.app.state.settings
    return on_call.tab(
        session,
        f,
        viewer,
        working_days=settings.working_days,
        working_hours=settings.working_hours,
    )


@router.get("/insights/on-call")
def on_call_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    def figures(session: Session, f: Filters, viewer: User) -> dict[str, Any]:
        load, rotas = _both(request, session, f, viewer)
        return {
            "load": load,
            "rotations": rotas,
            "share": share,
            "duration": duration_text,
            "week_query": week_query,
            **_charts(f, load),
        }

    return section_page(
        request, db, user, tab="on-call", template="insights/on_call.html", compute=figures
    )


def _people(load: Load) -> Table:
    header = [
        "user_id",
        "name",
        "teams",
        "timezone",
        "pages",
        "out_of_hours",
        "sleep",
        "incidents",
        "acknowledged",
        "median_tta_seconds",
        "level2_pages",
    ]
    rows = [
        [
            p.user_id,
            p.name,
            "; ".join(p.teams),
            p.timezone,
            p.pages,
            p.out_of_hours,
            p.sleep,
            p.incidents,
            p.acknowledged,
            p.median_tta,
            p.level2,
        ]
        for p in load.people
    ]
    return header, rows


def _teams(load: Load) -> Table:
    header = [
        "team_id",
        "team",
        "people_paged",
        "pages",
        "out_of_hours",
        "sleep",
        "incidents",
        "acknowledged",
        "median_tta_seconds",
        "level2_pages",
        "escalations_past_first_level",
    ]
    rows = [
        [
            t.team_id,
            t.name,
            t.people,
            t.pages,
            t.out_of_hours,
            t.sleep,
            t.incidents,
            t.acknowledged,
            t.median_tta,
            t.level2,
            t.escalations,
        ]
        for t in load.teams
    ]
    return header, rows


def _weeks(load: Load) -> Table:
    header = ["week_start", "pages", "out_of_hours", "sleep"]
    return header, [[w.start.isoformat(), w.pages, w.out_of_hours, w.sleep] for w in load.weeks]


def _incidents(load: Load) -> Table:
    header = ["incident", "title", "pages", "people", "out_of_hours"]
    rows = [
        [f"INC-{i.number}", i.title, i.pages, i.people, i.out_of_hours] for i in load.top_incidents
    ]
    return header, rows


TABLES: dict[str, Callable[[Load], Table]] = {
    "people": _people,
    "teams": _teams,
    "weeks": _weeks,
    "incidents": _incidents,
}


@router.get("/insights/on-call.csv")
def on_call_csv(request: Request, db: DbSession, user: CurrentUser) -> Response:
    table = request.query_params.get("table", "")
    if table not in (*TABLES, *ROTATION_TABLES):
        return PlainTextResponse(
            f"unknown table {table[:40]!r}: choose one of {', '.join((*TABLES, *ROTATION_TABLES))}",
            status_code=422,
        )
    try:
        f = filters_of(request, db)
    except ValidationFailed as exc:
        return PlainTextResponse(exc.message, status_code=422)
    if table in ROTATION_TABLES:
        header, rows = _rotations(request, db, f, user).csv_tables()[table]
    else:
        header, rows = TABLES[table](_load(request, db, f, user))
    return csv_response(db, request, f"on-call-{table}-{f.first_day.isoformat()}.csv", header, rows)


@api_router.get("/insights/on-call", response_model=OnCallLoadOut)
def on_call_api(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    f: ApiFilters,
) -> dict[str, Any]:
    """Pages per person and team (out of hours, during sleep, time to acknowledge, level 2
    and later), per week, and the most paged incidents. A team selects its members."""
    load, rotas = _both(request, db, f, user)
    return {**load_out(f, load), "rotations": rotas.as_dict()}
