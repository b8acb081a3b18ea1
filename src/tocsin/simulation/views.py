"""The UI of a dry run: the service page's "Who would be paged?" card, and its answer page
`/services/{id}/simulate` (a GET with the question in the query: it changes nothing)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service
from tocsin.definitions import service as definitions
from tocsin.deps import CurrentUser, DbSession
from tocsin.errors import DomainError
from tocsin.simulation.moment import parse_moment
from tocsin.simulation.service import simulate
from tocsin.web.cards import viewer
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


def card_context(db: Session, service: Service, request: Request) -> dict[str, Any]:
    """The question's form: severities, types, and the viewer's time zone to read it in."""
    person = viewer(request)
    return {
        "severities": definitions.severities(db),
        "types": definitions.incident_types(db),
        "timezone": person.timezone if person is not None else "UTC",
        "asked": {},
    }


@router.get("/services/{service_id}/simulate")
def simulate_page(
    service_id: int,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    severity: str = "",
    type: str = "",  # noqa: A002 - the form's field
    urgency: str = "",
    at: str = "",
    timezone: str = "",
) -> Response:
    service = catalog.get_service(db, service_id)
    asked = {"severity": severity, "type": type, "urgency": urgency, "at": at,
             "timezone": timezone or user.timezone}  # fmt: skip
    context: dict[str, Any] = {
        "service": service,
        "form": {**card_context(db, service, request), "asked": asked},
        "result": None,
        "error": "",
    }
    try:
        moment, zone = parse_moment(at, asked["timezone"])
        context["result"] = simulate(
            db, service=service, at=moment, timezone=zone,
            severity=severity or None, incident_type=type or None, urgency=urgency or None,
        )  # fmt: skip
    except DomainError as exc:
        context["error"] = exc.message
    return render(
        request, "simulation/page.html", context, status_code=422 if context["error"] else 200
    )
