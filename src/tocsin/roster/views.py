"""Roster pages: Settings → Roster, the incident page's roster lines, Page the IC."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.definitions import service as defs
from tocsin.deps import Admin, CurrentUser, DbSession, Responder
from tocsin.errors import ValidationFailed
from tocsin.incidents import queries
from tocsin.incidents.models import Incident
from tocsin.incidents.roles import COMMANDER, RoleChange
from tocsin.roster import paging, service
from tocsin.schedules.models import Schedule
from tocsin.web.actions import perform
from tocsin.web.forms import Form, optional_int, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


def _choice(value: str, slot: str) -> dict[str, int | None]:
    """A slot's select: '' (nobody), 'user:7' or 'schedule:3'."""
    kind, _, ident = value.partition(":")
    if not value:
        return {f"{slot}_user_id": None, f"{slot}_schedule_id": None}
    if kind not in ("user", "schedule") or not ident.isdigit():
        raise ValidationFailed(f"choose a person or a schedule for the {slot}", field=slot)
    return {
        f"{slot}_user_id": int(ident) if kind == "user" else None,
        f"{slot}_schedule_id": int(ident) if kind == "schedule" else None,
    }


@router.get("/settings/roster")
def roster_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    entries = {e.role_id: e for e in service.entries(db)}
    rows = [
        (
            role,
            entries.get(role.id),
            service.resolve(db, entries[role.id]) if role.id in entries else [],
        )
        for role in defs.roles(db)
    ]
    return render(
        request,
        "settings/roster.html",
        {
            "rows": rows,
            "people": db.scalars(
                select(User).where(User.active.is_(True), User.is_person).order_by(User.name)
            ).all(),
            "schedules": db.scalars(select(Schedule).order_by(Schedule.name)).all(),
            "section": "roster",
        },
    )


@router.post("/settings/roster/{role_id}")
def set_entry(role_id: int, db: DbSession, admin: Admin, form: Form) -> Response:
    def save() -> None:
        slots = {
            **_choice(text(form, "primary"), "primary"),
            **_choice(text(form, "backup"), "backup"),
        }
        service.set_entry(db, role_id, **slots)

    return perform(db, "/settings/roster", save, notice="Roster saved.")


@router.post("/settings/roster/{role_id}/delete")
def clear_entry(role_id: int, db: DbSession, admin: Admin) -> Response:
    return perform(
        db,
        "/settings/roster",
        lambda: service.clear_entry(db, role_id),
        notice="Roster entry removed.",
    )


def _back(incident: Incident) -> str:
    return f"/incidents/{incident.reference}#roles"


@router.post("/incidents/{ref}/page-ic")
def page_the_ic(ref: str, db: DbSession, user: Responder) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident),
        lambda: paging.page_the_ic(db, incident, by=user),
        notice="Paging the Incident Commander's primary and backup.",
    )


@router.post("/incidents/{ref}/roster/assign")
def assign_from_roster(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)

    def warn(change: RoleChange) -> str | None:
        return " ".join(change.warnings) or None

    return perform(
        db,
        _back(incident),
        lambda: service.assign_from_roster(
            db, incident, role_id=optional_int(form, "role_id") or 0, by=user
        ),
        warn=warn,
    )


def card_context(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    """The incident page's roster lines (inside its Roles card): each rostered role's
    primary and backup now, and whether Page the IC can be offered."""
    lines: list[dict[str, Any]] = []
    can_page_ic = False
    for entry in service.entries(db):
        answerers = service.resolve(db, entry)
        someone = any(a.people for a in answerers)
        can_page_ic = can_page_ic or (entry.role.slug == COMMANDER and someone)
        lines.append({"role": entry.role, "text": service.summary(answerers), "someone": someone})
    return {"lines": lines, "can_page_ic": incident.is_open and can_page_ic}
