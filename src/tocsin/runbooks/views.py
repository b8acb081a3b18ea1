"""Runbook pages: the list, one runbook (edit with preview, its versions), and the incident
page's Runbooks card with its checkboxes (wired in `tocsin.wiring.build_cards`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service
from tocsin.definitions import service as defs
from tocsin.deps import CurrentUser, DbSession, Responder
from tocsin.errors import DomainError, ValidationFailed
from tocsin.incidents import queries as incident_queries
from tocsin.incidents.models import Incident
from tocsin.runbooks import progress, service
from tocsin.runbooks.document import shown
from tocsin.runbooks.models import Runbook
from tocsin.validation import digits
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, int_list, optional_int, redirect, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


def _form_page(
    request: Request,
    db: Session,
    runbook: Runbook | None,
    values: dict[str, Any],
    *,
    error: str | None = None,
    preview: bool = False,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "runbooks/edit.html",
        {
            "section": "runbooks",
            "runbook": runbook,
            "values": values,
            "error": error,
            "preview": shown(values["body"]) if preview else None,
            "types": defs.incident_types(db),
            "services": db.scalars(select(Service).order_by(Service.name)).all(),
            "roles": sorted(service.known_roles(db)),
            "role_names": service.role_names(db),
        },
        status_code,
    )


def _values(form: Any) -> dict[str, Any]:
    return {
        "name": text(form, "name"),
        "body": text(form, "body")[: service.BODY_MAX + 1],
        "incident_type_id": optional_int(form, "incident_type_id"),
        "service_ids": int_list(form, "service_ids"),
        "auto_attach": checkbox(form, "auto_attach"),
    }


@router.get("/runbooks")
def runbook_list(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return render(
        request,
        "runbooks/list.html",
        {"section": "runbooks", "runbooks": service.list_runbooks(db)},
    )


@router.get("/runbooks/new")
def new_runbook(request: Request, db: DbSession, user: Responder) -> Response:
    blank: dict[str, Any] = {
        "name": "",
        "body": "- [ ] ",
        "incident_type_id": None,
        "service_ids": [],
    }
    return _form_page(request, db, None, {**blank, "auto_attach": False})


@router.post("/runbooks")
def create_runbook(request: Request, db: DbSession, user: Responder, form: Form) -> Response:
    values = _values(form)
    if text(form, "preview"):
        return _form_page(request, db, None, values, preview=True)
    try:
        runbook = service.create(db, by=user, **values)
    except DomainError as exc:
        db.rollback()
        return _form_page(request, db, None, values, error=exc.message, status_code=422)
    return redirect(f"/runbooks/{runbook.id}", notice="Runbook created.")


@router.get("/runbooks/{runbook_id}")
def runbook_page(request: Request, runbook_id: int, db: DbSession, user: CurrentUser) -> Response:
    runbook = service.get_runbook(db, runbook_id)
    number = digits(request.query_params.get("version", "")) or runbook.current_version
    version = service.get_version(db, runbook, number)
    return render(
        request,
        "runbooks/show.html",
        {
            "section": "runbooks",
            "runbook": runbook,
            "runbook_version": version,
            "blocks": shown(version.body),
            "role_names": service.role_names(db),
        },
    )


@router.get("/runbooks/{runbook_id}/edit")
def edit_runbook(request: Request, runbook_id: int, db: DbSession, user: Responder) -> Response:
    runbook = service.get_runbook(db, runbook_id)
    values = {
        "name": runbook.name,
        "body": service.current(runbook).body,
        "incident_type_id": runbook.incident_type_id,
        "service_ids": [s.id for s in runbook.services],
        "auto_attach": runbook.auto_attach,
    }
    return _form_page(request, db, runbook, values)


@router.post("/runbooks/{runbook_id}")
def save_runbook(
    request: Request, runbook_id: int, db: DbSession, user: Responder, form: Form
) -> Response:
    runbook = service.get_runbook(db, runbook_id)
    values = _values(form)
    if text(form, "preview"):
        return _form_page(request, db, runbook, values, preview=True)
    try:
        service.edit(db, runbook, by=user, **values)
    except DomainError as exc:
        db.rollback()
        runbook = service.get_runbook(db, runbook_id)
        return _form_page(request, db, runbook, values, error=exc.message, status_code=422)
    return redirect(
        f"/runbooks/{runbook_id}", notice=f"Saved as version {runbook.current_version}."
    )


@router.post("/runbooks/{runbook_id}/delete")
def delete_runbook(runbook_id: int, db: DbSession, user: Responder) -> Response:
    runbook = service.get_runbook(db, runbook_id)
    return perform(
        db, "/runbooks", lambda: service.delete(db, runbook, by=user), notice="Runbook deleted."
    )


# The incident page's card ------------------------------------------------------------------


def card_context(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    """The incident's runbooks with each step's tick, and the runbooks it could add."""
    held = progress.attachments(db, incident)
    attached_ids = {a.runbook_id for a in held}
    return {
        "attached": [
            {
                "attachment": a,
                "blocks": shown(a.version.body),
                "ticks": {t.step: t for t in a.ticks},
                "done": len(a.ticks),
                "total": len(a.version.steps),
            }
            for a in held
        ],
        "available": [r for r in service.list_runbooks(db) if r.id not in attached_ids],
        "role_names": service.role_names(db) if held else {},
    }


def _back(incident: Incident) -> str:
    return f"/incidents/{incident.reference}#runbooks"


@router.post("/incidents/{ref}/runbooks")
def attach_runbook(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = incident_queries.get_incident(db, ref, viewer=user)

    def apply() -> None:
        runbook_id = optional_int(form, "runbook_id")
        if runbook_id is None:
            raise ValidationFailed("choose a runbook to attach", field="runbook_id")
        service.attach(db, incident, service.get_runbook(db, runbook_id), by=user)

    return perform(db, _back(incident), apply, notice="Runbook attached.")


@router.post("/incidents/{ref}/runbooks/{attachment_id}/steps/{number}")
def set_step(
    ref: str, attachment_id: int, number: int, db: DbSession, user: Responder, form: Form
) -> Response:
    """One step's checkbox: `done` present ticks it, absent unticks it (a checkbox left
    unticked is not sent)."""
    incident = incident_queries.get_incident(db, ref, viewer=user)
    attachment = progress.get_attachment(db, incident, attachment_id)
    change = progress.tick if checkbox(form, "done") else progress.untick
    return perform(db, _back(incident), lambda: change(db, incident, attachment, number, by=user))
