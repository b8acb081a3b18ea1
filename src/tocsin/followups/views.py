"""The follow-up list page."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team, User, UserRole
from tocsin.db import utcnow
from tocsin.deps import CurrentUser, DbSession
from tocsin.followups import queries, recurrence
from tocsin.incidents.models import Incident
from tocsin.validation import digits
from tocsin.web import cards
from tocsin.web.cards import viewer
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


def _id(value: str | None) -> int | None:
    """A positive id from the query string, or None for anything else (an unset filter)."""
    number = digits((value or "").strip(), max_digits=9)
    return number if number else None


@router.get("/follow-ups")
def follow_ups_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    params = request.query_params
    status = params.get("status", "unfinished")
    if status not in get_args(queries.StatusFilter):
        status = "unfinished"
    sort = params.get("sort", "due")
    if sort not in get_args(queries.Sort):
        sort = "due"
    tag = (params.get("tag") or "").strip()[:40] or None
    overdue = params.get("overdue") in ("1", "true", "on")
    filters = {
        "team": _id(params.get("team")),
        "service": _id(params.get("service")),
        "assignee": _id(params.get("assignee")),
    }
    today = utcnow().date()
    rows, total = queries.follow_ups(
        db,
        viewer=user,
        team_id=filters["team"],
        service_id=filters["service"],
        status=status,  # type: ignore[arg-type]  # checked against StatusFilter above
        assignee_id=filters["assignee"],
        tag=tag,
        overdue_on=today if overdue else None,
        sort=sort,  # type: ignore[arg-type]  # checked against Sort above
    )
    return render(
        request,
        "followups/list.html",
        {
            "items": rows,
            "total": total,
            "today": today,
            "postmortems": queries.postmortems_of(db, {i.incident_id for i in rows}),
            "filters": filters,
            "status": status,
            "sort": sort,
            "tag": tag or "",
            "overdue": overdue,
            # Responders edit an item's priority and tags in place, and come back here.
            "can_edit": user.role != UserRole.viewer.value,
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "statuses": get_args(queries.StatusFilter),
            "teams": db.scalars(select(Team).order_by(Team.name)).all(),
            "services": db.scalars(select(Service).order_by(Service.name)).all(),
            "people": db.scalars(
                select(User).where(User.active, User.is_person).order_by(User.name)
            ).all(),
            "section": "follow-ups",
            # Other domains' parts of each row (issue trackers): tocsin.wiring.build_cards.
            **cards.for_page(request, cards.ACTION_ITEMS, db, list(rows), key="item_cards"),
        },
    )


def recurrence_card(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    """The incident page's card of earlier incidents like it and their open follow-ups."""
    user = viewer(request)
    if user is None:
        return {"earlier": []}
    today = utcnow().date()
    ignored = recurrence.ignored_labels(request.app.state.settings.recurrence_ignored_labels)
    earlier = recurrence.earlier_like(db, incident, viewer=user, ignored=ignored)
    return {
        "earlier": earlier,
        "lines": {
            e.incident.id: [recurrence.describe(i, today) for i in e.follow_ups] for e in earlier
        },
        "overdue": {i.id for e in earlier for i in e.follow_ups if i.is_overdue(today)},
    }
