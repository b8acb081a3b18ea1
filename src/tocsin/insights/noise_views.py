"""The Alert noise tab: its page, the CSV of each of its tables, and its JSON."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.deps import CurrentUser, DbSession
from tocsin.errors import ValidationFailed
from tocsin.insights import charts, noise
from tocsin.insights.export import csv_response
from tocsin.insights.filters import Filters
from tocsin.insights.noise import Noise
from tocsin.insights.noise_schemas import NoiseOut, noise_out
from tocsin.insights.web import ApiFilters, filters_of, section_page

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["insights"])


def alerts_href(integration_id: int, dedup_key: str | None = None) -> str:
    """The alert list of an integration (and a dedup key), every status."""
    params: dict[str, object] = {"status": "all", "integration_id": integration_id}
    if dedup_key:
        params["q"] = dedup_key
    return "/alerts?" + urlencode(params)


def _figures(noise_figures: Noise) -> dict[str, Any]:
    """The template's context: the figures and their charts."""
    sources = charts.bars(
        [
            charts.Bar(
                f"{s.integration} ({s.service})",
                s.alerts,
                str(s.alerts),
                alerts_href(s.integration_id),
            )
            for s in noise_figures.sources
        ],
        title="Alerts per source, noisiest first",
    )
    volume = charts.columns(
        [
            charts.Point(
                b.first_day.strftime("%d %b"),
                b.alerts,
                f"{b.alerts} alert{'s' if b.alerts != 1 else ''}",
            )
            for b in noise_figures.volume
        ],
        title=f"Alerts per {noise_figures.bucket}",
    )
    return {"noise": noise_figures, "sources_chart": sources, "volume_chart": volume}


@router.get("/insights/noise")
def noise_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    window, window_error = noise.DEFAULT_WINDOW, None
    try:
        window = noise.window_of(request.query_params.get("window"))
    except ValidationFailed as exc:
        window_error = exc.message

    def compute(session: Session, f: Filters, viewer: User) -> dict[str, Any]:
        context: dict[str, Any] = {"window": window, "window_error": window_error}
        if window_error is None:
            context.update(_figures(noise.compute(session, f, viewer, window=window)))
        return context

    response = section_page(
        request, db, user, tab="noise", template="insights/noise.html", compute=compute
    )
    if window_error is not None:
        response.status_code = 422
    return response


def _percent(share: float) -> str:
    return f"{share * 100:.1f}"


# table name → (header, rows of the figures)
TABLES: dict[str, tuple[Sequence[str], Callable[[Noise], list[Sequence[object]]]]] = {
    "sources": (
        (
            "integration",
            "service",
            "alerts",
            "events",
            "incidents opened",
            "auto-resolved",
            "auto-resolved %",
        ),
        lambda n: [
            (
                s.integration,
                s.service,
                s.alerts,
                s.events,
                s.incidents_opened,
                s.auto_resolved,
                _percent(s.auto_resolved_share),
            )  # fmt: skip
            for s in n.sources
        ],
    ),
    "keys": (
        ("integration", "service", "dedup key", "alerts", "events"),
        lambda n: [(k.integration, k.service, k.dedup_key, k.alerts, k.events) for k in n.keys],
    ),
    "flapping": (
        ("integration", "service", "dedup key", "flaps"),
        lambda n: [(k.integration, k.service, k.dedup_key, k.flaps) for k in n.flapping],
    ),
    "auto-resolved": (
        ("integration", "service", "alerts", "auto-resolved", "auto-resolved %"),
        lambda n: [
            (s.integration, s.service, s.alerts, s.auto_resolved, _percent(s.auto_resolved_share))
            for s in n.auto_resolved_sources
        ],
    ),
    "volume": (
        ("from", "alerts"),
        lambda n: [(b.first_day.isoformat(), b.alerts) for b in n.volume],
    ),
    "incidents": (
        ("incident", "title", "alerts"),
        lambda n: [(i.reference, i.title, i.alerts) for i in n.top_incidents],
    ),
    "rules": (
        ("rule", "service", "dropped", "downgraded", "hits"),
        lambda n: [(r.rule, r.service, r.dropped, r.downgraded, r.hits) for r in n.rules],
    ),
    "windows": (
        ("reason", "service", "starts (UTC)", "ends (UTC)", "hits"),
        lambda n: [
            (
                w.reason,
                w.service,
                w.starts_at.isoformat() if w.starts_at else "",
                w.ends_at.isoformat() if w.ends_at else "",
                w.hits,
            )  # fmt: skip
            for w in n.windows
        ],
    ),
}


def _refused(message: str) -> Response:
    return Response(message, status_code=422, media_type="text/plain; charset=utf-8")


@router.get("/insights/noise.csv")
def noise_csv(request: Request, db: DbSession, user: CurrentUser) -> Response:
    table = request.query_params.get("table", "")
    if table not in TABLES:
        return _refused(f"table must be one of {', '.join(TABLES)} (got {table.strip()[:40]!r})")
    try:
        f = filters_of(request, db)
        window = noise.window_of(request.query_params.get("window"))
    except ValidationFailed as exc:
        return _refused(exc.message)
    header, rows = TABLES[table]
    figures = noise.compute(db, f, user, window=window)
    name = f"noise-{table}-{f.first_day.isoformat()}-{f.last_day.isoformat()}.csv"
    return csv_response(db, request, name, header, rows(figures))


@api_router.get("/insights/noise", response_model=NoiseOut)
def noise_api(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    f: ApiFilters,
    window: Annotated[
        int, Query(ge=1, le=noise.MAX_WINDOW, description="The flapping window, minutes")
    ] = noise.DEFAULT_WINDOW,
) -> NoiseOut:
    """Alert noise of a period: the noisiest sources and dedup keys, flapping keys, alerts
    resolved before anyone acknowledged them, alerts per incident, suppression and
    maintenance hits. Drills are left out; restricted incidents you may not see are counted
    but not named."""
    return noise_out(f, noise.compute(db, f, user, window=window))
