"""The KPIs tab (/insights), the incidents behind any figure (/insights/incidents), their CSV
and JSON."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.deps import CurrentUser, DbSession
from tocsin.errors import ValidationFailed
from tocsin.incidents.access import hidden_ids
from tocsin.insights import charts, kpis
from tocsin.insights.export import csv_response
from tocsin.insights.filters import Filters
from tocsin.insights.schemas import (
    IncidentsBehindOut,
    KpisOut,
)
from tocsin.insights.stats import Summary, duration_text
from tocsin.insights.web import ApiFilters, filters_of, section_page
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/insights", tags=["insights"])

TABLES = ("by_severity", "by_service", "by_team", "by_type", "over_time")
# What a drill-down lists: every incident, or those with a figure, or by target outcome.
BEHIND = ("volume", "mttd", "mtta", "mttr", "met", "missed", "pending")
LIST_LIMIT = 500


def _group_dict(g: kpis.Group) -> dict[str, Any]:
    return {
        "key": g.key,
        "label": g.label,
        "start": g.start.isoformat() if g.start else None,
        "volume": g.volume,
        "mttd": g.mttd.as_dict(),
        "mtta": g.mtta.as_dict(),
        "mttr": g.mttr.as_dict(),
        "attainment": g.attainment.as_dict(),
    }


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def _figures(session: Session, f: Filters, user: User) -> dict[str, Any]:
    result, _ = kpis.compute(session, f, utcnow())
    by_group = {
        "by_severity": "severity",
        "by_service": "service",
        "by_team": "team",
        "by_type": "type",
    }

    def behind(table: str, g: kpis.Group, metric: str) -> str:
        changes: dict[str, object] = {"metric": metric}
        if table in by_group and not g.key:
            return ""  # "no service", "no team": no filter selects just those
        if table in by_group:
            changes[by_group[table]] = g.key or None
        if table == "over_time":
            changes.update(
                period=None, date=None, **{"from": g.key, "to": _bucket_end(result.bucket, g.key)}
            )
        return "/insights/incidents?" + f.query(**changes)

    severities = {str(s.id): s for s in session.scalars(select(Severity))}
    return {
        "k": result,
        "behind": behind,
        "percent": _percent,
        "duration": duration_text,
        "severities": severities,
        "tables": TABLES,
        "charts": {
            "volume": charts.columns(
                [
                    charts.Point(g.label, g.volume, str(g.volume), behind("over_time", g, "volume"))
                    for g in result.over_time
                ],
                title=f"Incidents per {result.bucket}",
            ),
            "mttr": charts.columns(
                [
                    charts.Point(
                        g.label,
                        g.mttr.median / 3600 if g.mttr.median is not None else None,
                        duration_text(g.mttr.median),
                        behind("over_time", g, "mttr"),
                    )
                    for g in result.over_time
                ],
                title=f"Median time to resolve per {result.bucket} (hours)",
                colour="#7c3aed",
            ),
            "severity": charts.bars(
                [
                    charts.Bar(g.label, g.volume, str(g.volume), behind("by_severity", g, "volume"))
                    for g in result.by_severity
                ],
                title="Incidents by severity",
            ),
            "service": charts.bars(
                [
                    charts.Bar(g.label, g.volume, str(g.volume), behind("by_service", g, "volume"))
                    for g in result.by_service[:15]
                ],
                title="Incidents by service (the 15 with the most)",
            ),
            "attainment": charts.bars(
                [
                    charts.Bar(
                        g.label,
                        (g.attainment.share or 0) * 100,
                        _percent(g.attainment.share),
                        behind("by_severity", g, "missed"),
                    )
                    for g in result.by_severity
                    if g.attainment.share is not None
                ],
                title="Response targets met, by severity (%)",
                colour="#15803d",
            ),
        },
    }


def _bucket_end(size: str, first: str) -> str:
    from_day = date.fromisoformat(first)
    if size == "day":
        return first
    if size == "week":
        return (from_day + timedelta(days=6)).isoformat()
    following = date(from_day.year + from_day.month // 12, from_day.month % 12 + 1, 1)
    return (following - timedelta(days=1)).isoformat()


@router.get("/insights")
def overview_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return section_page(
        request, db, user, tab="overview", template="insights/overview.html", compute=_figures
    )


def _summary_cells(s: Summary) -> list[object]:
    return [
        round(s.median) if s.median is not None else None,
        round(s.p90) if s.p90 is not None else None,
        s.count,
    ]


@router.get("/insights/overview.csv")
def overview_csv(request: Request, db: DbSession, user: CurrentUser) -> Response:
    table = request.query_params.get("table", "")
    if table not in TABLES:
        raise ValidationFailed(
            f"table must be one of {', '.join(TABLES)} (got {table[:40]!r})", field="table"
        )
    f = filters_of(request, db)
    result, _ = kpis.compute(db, f, utcnow())
    header = [
        "group",
        "incidents",
        "mttd_median_s", "mttd_p90_s", "mttd_count",
        "mtta_median_s", "mtta_p90_s", "mtta_count",
        "mttr_median_s", "mttr_p90_s", "mttr_count",
        "targets_met", "targets_missed", "targets_pending", "attainment",
    ]  # fmt: skip
    rows = [
        [
            g.key if table == "over_time" else g.label,
            g.volume,
            *_summary_cells(g.mttd),
            *_summary_cells(g.mtta),
            *_summary_cells(g.mttr),
            g.attainment.met,
            g.attainment.missed,
            g.attainment.pending,
            round(g.attainment.share, 4) if g.attainment.share is not None else None,
        ]
        for g in getattr(result, table)
    ]
    return csv_response(
        db, request, f"insights-{table}-{f.first_day.isoformat()}.csv", header, rows
    )


def _behind(
    session: Session, f: Filters, user: User, metric: str
) -> tuple[list[kpis.Times], int, int]:
    """The incidents behind a figure that `user` may see, the metric's largest first; how
    many there are in all, and how many are hidden from `user`."""
    if metric not in BEHIND:
        raise ValidationFailed(
            f"metric must be one of {', '.join(BEHIND)} (got {metric[:40]!r})", field="metric"
        )
    _, items = kpis.compute(session, f, utcnow())
    if metric in kpis.METRICS:
        items = [t for t in items if t.metric(metric) is not None]
        items.sort(key=lambda t: -(t.metric(metric) or 0))
    elif metric != "volume":
        items = [t for t in items if t.target == metric]
    hidden = hidden_ids(session, user, [t.id for t in items if t.restricted])
    shown = [t for t in items if t.id not in hidden]
    return shown, len(items), len(hidden)


@router.get("/insights/incidents")
def behind_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    metric = request.query_params.get("metric", "volume")

    def figures(session: Session, f: Filters, viewer: User) -> dict[str, Any]:
        shown, total, hidden = _behind(session, f, viewer, metric)
        return {
            "metric": metric,
            "items": shown[:LIST_LIMIT],
            "more": max(0, len(shown) - LIST_LIMIT),
            "total": total,
            "hidden": hidden,
            "duration": duration_text,
        }

    if metric not in BEHIND:
        return render(
            request,
            "error.html",
            {"status": 422, "message": f"metric must be one of {', '.join(BEHIND)}"},
            status_code=422,
        )
    return section_page(
        request, db, user, tab="overview", template="insights/incidents.html", compute=figures
    )


@router.get("/insights/incidents.csv")
def behind_csv(request: Request, db: DbSession, user: CurrentUser) -> Response:
    f = filters_of(request, db)
    metric = request.query_params.get("metric", "volume")
    shown, _, _ = _behind(db, f, user, metric)
    return csv_response(
        db,
        request,
        f"insights-incidents-{metric}-{f.first_day.isoformat()}.csv",
        [
            "reference",
            "title",
            "detected_at",
            "time_to_detect_s",
            "time_to_acknowledge_s",
            "time_to_resolve_s",
            "response_due_at",
            "response_target",
        ],  # fmt: skip
        [
            [
                f"INC-{t.number}",
                t.title,
                t.detected.isoformat(),
                _round(t.ttd),
                _round(t.tta),
                _round(t.ttr),
                t.due.isoformat() if t.due else None,
                t.target,
            ]
            for t in shown
        ],
    )


def _round(value: float | None) -> int | None:
    return None if value is None else round(value)


@api.get("/kpis", response_model=KpisOut)
def kpis_api(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    f: ApiFilters,
) -> dict[str, Any]:
    """MTTD, MTTA, MTTR (median, p90, mean; seconds), volume and response-target attainment for
    a period, against the period before, by severity, service, team, type and over time.
    Drills are left out; restricted incidents are counted."""
    result, _ = kpis.compute(db, f, utcnow())
    return {
        "filters": f.as_dict(),
        "total": _group_dict(result.total),
        "previous": _group_dict(result.previous),
        "changes": result.changes,
        **{name: [_group_dict(g) for g in getattr(result, name)] for name in TABLES},
        "bucket": result.bucket,
    }


@api.get("/incidents", response_model=IncidentsBehindOut)
def incidents_api(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    f: ApiFilters,
    metric: str = Query(
        "volume", description="volume, mttd, mtta, mttr (largest first), met, missed or pending"
    ),
) -> dict[str, Any]:
    """The incidents behind a figure, with their times; restricted incidents you may not see
    are counted in `hidden` and not listed."""
    shown, total, hidden = _behind(db, f, user, metric)
    base = request.app.state.settings.base_url.rstrip("/")
    return {
        "filters": f.as_dict(),
        "metric": metric,
        "total": total,
        "hidden": hidden,
        "items": [
            {
                "number": t.number,
                "reference": f"INC-{t.number}",
                "title": t.title,
                "url": f"{base}/incidents/INC-{t.number}",
                "detected_at": t.detected,
                "time_to_detect": t.ttd,
                "time_to_acknowledge": t.tta,
                "time_to_resolve": t.ttr,
                "response_due_at": t.due,
                "response_target": t.target,
            }
            for t in shown
        ],
    }
