"""The Learning tab of Insights: its page, its CSV tables and its JSON."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.deps import CurrentUser, DbSession
from tocsin.errors import ValidationFailed
from tocsin.insights import charts, export, learning
from tocsin.insights.filters import Filters
from tocsin.insights.learning import Attainment, FollowUps, Learning
from tocsin.insights.learning_schemas import LearningOut, learning_out
from tocsin.insights.stats import duration_text
from tocsin.insights.web import ApiFilters, filters_of, section_page

router = APIRouter()

STATUS_LABELS = {
    "draft": "Draft",
    "in_review": "In review",
    "reviewed": "Reviewed",
    "closed": "Closed",
}


def share_text(row: Attainment) -> str:
    if row.share is None:
        return "none due"
    return f"{round(row.share * 100)}% ({row.on_time} of {row.due})"


def _attainment_bars(rows: Sequence[Attainment], f: Filters, param: str, title: str) -> Markup:
    shown = [r for r in rows if r.share is not None]
    return charts.bars(
        [
            charts.Bar(
                r.name,
                (r.share or 0) * 100,
                share_text(r),
                f"/insights/learning?{f.query(**{param: r.id})}" if r.id is not None else None,
            )
            for r in shown
        ],
        title=title,
    )


def _context(session: Session, f: Filters, user: User) -> dict[str, Any]:
    figures = learning.compute(session, f, user)
    return {
        "figures": figures,
        "share_text": share_text,
        "duration_text": duration_text,
        "status_labels": STATUS_LABELS,
        "severity_chart": _attainment_bars(
            figures.by_severity, f, "severity", "Postmortems reviewed on time, by severity"
        ),
        "team_chart": _attainment_bars(
            figures.by_team, f, "team", "Postmortems reviewed on time, by team"
        ),
        "status_chart": charts.bars(
            [
                charts.Bar(STATUS_LABELS[s], n, str(n))
                for s, n in figures.postmortem_statuses.items()
            ],
            title="Postmortems by status",
        )
        if any(figures.postmortem_statuses.values())
        else None,
        "follow_up_chart": charts.bars(
            [
                charts.Bar(
                    r.name,
                    r.open,
                    f"{r.open} open, {r.overdue} overdue",
                    f"/insights/learning?{f.query(team=r.id)}" if r.id is not None else None,
                )
                for r in figures.follow_ups_by_team
            ],
            title="Open follow-ups by team",
            colour="#b45309",
        ),
    }


@router.get("/insights/learning", include_in_schema=False)
def learning_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return section_page(
        request, db, user, tab="learning", template="insights/learning.html", compute=_context
    )


def _percent(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.1f}"


def _attainment_rows(rows: Sequence[Attainment]) -> list[list[object]]:
    return [
        [r.name, r.required, r.on_time, r.late, r.missing, r.not_due, r.due, _percent(r.share)]
        for r in rows
    ]


def _follow_up_rows(rows: Sequence[FollowUps]) -> list[list[object]]:
    return [
        [
            r.name,
            r.created,
            r.done,
            r.wont_do,
            r.open,
            r.overdue,
            r.age_median_days,
            r.age_p90_days,
            r.oldest_days,
        ]
        for r in rows
    ]


ATTAINMENT = ["required", "on time", "late", "missing", "not due", "due", "% on time"]
TABLES: dict[str, tuple[list[str], Callable[[Learning], list[list[object]]]]] = {
    "severity": (
        ["severity", *ATTAINMENT],
        lambda x: _attainment_rows([*x.by_severity, x.attainment]),
    ),
    "team": (["team", *ATTAINMENT], lambda x: _attainment_rows(x.by_team)),
    "gaps": (
        ["incident", "title", "severity", "problem", "postmortem status", "due", "reviewed"],
        lambda x: [
            [
                g.reference,
                g.title,
                g.severity,
                g.problem,
                g.postmortem_status or "",
                g.due_at.isoformat() if g.due_at else "",
                g.reviewed_at.isoformat() if g.reviewed_at else "",
            ]
            for g in x.gaps
        ],
    ),
    "statuses": (
        ["status", "postmortems"],
        lambda x: [[s, n] for s, n in x.postmortem_statuses.items()],
    ),
    "follow-ups": (
        [
            "team",
            "created",
            "done",
            "won't do",
            "open",
            "overdue",
            "median age of open (days)",
            "p90 age of open (days)",
            "oldest open (days)",
        ],
        lambda x: _follow_up_rows([*x.follow_ups_by_team, x.follow_ups]),
    ),
    "overdue": (
        ["follow-up", "incident", "assignee", "due", "days overdue", "age (days)"],
        lambda x: [
            [
                o.title,
                o.reference,
                o.assignee or "",
                o.due_date.isoformat(),
                o.days_overdue,
                o.age_days,
            ]
            for o in x.oldest_overdue
        ],
    ),
}


@router.get("/insights/learning.csv", include_in_schema=False)
def learning_csv(request: Request, db: DbSession, user: CurrentUser) -> Response:
    table = request.query_params.get("table", "")
    if table not in TABLES:
        return PlainTextResponse(
            f"table must be one of {', '.join(TABLES)} (got {table[:40]!r})", status_code=422
        )
    try:
        f = filters_of(request, db)
    except ValidationFailed as exc:
        return PlainTextResponse(exc.message, status_code=422)
    header, rows = TABLES[table]
    return export.csv_response(
        db,
        request,
        f"learning-{table}-{f.first_day.isoformat()}.csv",
        header,
        rows(learning.compute(db, f, user)),
    )


@router.get("/api/v1/insights/learning", response_model=LearningOut, tags=["insights"])
def learning_api(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    f: ApiFilters,
) -> LearningOut:
    """Learning health for a period: postmortems of the severities that require one reviewed
    on time, postmortems by status, and the follow-ups of the period's incidents (drills left
    out; restricted incidents counted, listed only to those who may see them)."""
    return learning_out(learning.compute(db, f, user), f)
