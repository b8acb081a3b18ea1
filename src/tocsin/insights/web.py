"""What every Insights page, CSV export and JSON route shares: reading the filters, the
choices of the filter form, and rendering a section inside the Insights layout.

A section module (kpis_views, load_views, noise_views, learning_views) computes its figures
with its own module and calls `section_page`; bad filters show the form again with the
message (422), under /api/ they are a 422 JSON error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team, User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentType, Severity
from tocsin.deps import DbSession
from tocsin.errors import ValidationFailed
from tocsin.insights import scope
from tocsin.insights.filters import PERIODS, Filters, parse
from tocsin.web.templating import render

# The tabs of the Insights section: (tab, path, title).
TABS = (
    ("overview", "/insights", "KPIs and targets"),
    ("on-call", "/insights/on-call", "On-call load"),
    ("noise", "/insights/noise", "Alert noise"),
    ("learning", "/insights/learning", "Learning"),
)


def filters_of(request: Request, session: Session) -> Filters:
    """The request's filters; `ValidationFailed` for bad ones. The request's transaction is
    set up for reading history (`scope.reading_history`)."""
    settings: Settings = request.app.state.settings
    found = parse(session, request.query_params, now=utcnow(), timezone=settings.org_timezone)
    scope.reading_history(session)
    return found


def _ref(what: str) -> Any:
    return Query(max_length=200, description=f"{what}'s id or name")


def api_filters(
    request: Request,
    db: DbSession,
    period: Annotated[
        str | None, Query(max_length=20, description="week, month or quarter (the default)")
    ] = None,
    day: Annotated[
        str | None,
        Query(alias="date", max_length=40, description="A day of the period, YYYY-MM-DD"),
    ] = None,
    start: Annotated[
        str | None,
        Query(alias="from", max_length=40, description="A range's first day (with `to`)"),
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", max_length=40, description="A range's last day, included")
    ] = None,
    team: Annotated[str | None, _ref("A team")] = None,
    service: Annotated[str | None, _ref("A service")] = None,
    severity: Annotated[str | None, _ref("A severity")] = None,
    incident_type: Annotated[
        str | None, Query(alias="type", max_length=200, description="An incident type's id or name")
    ] = None,
) -> Filters:
    """The filters every /api/v1/insights route takes, declared once for the OpenAPI document
    and read from the query string by `filters.parse` (a 422 naming the bad one)."""
    return filters_of(request, db)


ApiFilters = Annotated[Filters, Depends(api_filters)]


def choices(session: Session) -> dict[str, Any]:
    """The filter form's options."""
    return {
        "periods": PERIODS,
        "teams": session.scalars(select(Team).order_by(Team.name)).all(),
        "services": session.scalars(select(Service).order_by(Service.name)).all(),
        "severities": session.scalars(select(Severity).order_by(Severity.rank)).all(),
        "types": session.scalars(select(IncidentType).order_by(IncidentType.name)).all(),
    }


def section_page(
    request: Request,
    session: Session,
    user: User,
    *,
    tab: str,
    template: str,
    compute: Callable[[Session, Filters, User], dict[str, Any]],
) -> Response:
    """Render one tab: `compute` gives the template's figures for the request's filters."""
    context: dict[str, Any] = {
        "section": "insights",
        "tab": tab,
        "tabs": TABS,
        "here": request.url.path,
        "raw": request.query_params,
        **choices(session),
    }
    try:
        filters = filters_of(request, session)
    except ValidationFailed as exc:
        context.update(error=exc.message, error_field=exc.field, f=None)
        return render(request, template, context, status_code=422)
    context.update(f=filters, error=None, **compute(session, filters, user))
    return render(request, template, context)
