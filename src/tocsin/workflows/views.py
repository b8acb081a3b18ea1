"""HTML for workflows: Settings → Workflows (everyone reads, admins change): the list, the
editor (server-rendered: its buttons post the form and it comes back changed, so it works
without JavaScript), delete with a confirmation, "test against an incident" (the dry run),
each workflow's recent runs; and the incident page's card listing the runs on the incident."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team, User
from tocsin.definitions import service as defs
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession
from tocsin.errors import DomainError, ValidationFailed
from tocsin.incidents import queries as incident_queries
from tocsin.incidents.models import Incident
from tocsin.outbound import OutboundGuard
from tocsin.web.actions import perform
from tocsin.web.forms import Form, redirect, text
from tocsin.web.templating import render
from tocsin.workflows import dryrun, forms, queries, service
from tocsin.workflows.models import Workflow
from tocsin.workflows.references import REFERENCES, choices
from tocsin.workflows.service import runs_of
from tocsin.workflows.triggers import TIMERS, Trigger

router = APIRouter(include_in_schema=False)
URL = "/settings/workflows"
WorkflowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def card_context(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    """The incident's workflow runs, oldest first: what each action did, or why it was
    skipped."""
    return {"runs": runs_of(db, incident)}


def _editor(db: Session) -> dict[str, Any]:
    """What the editor's selects offer, read from the database and the action models."""
    used = {s.name for kind in forms.KINDS.values() for s in kind.fields if s.name in REFERENCES}
    return {
        "section": "workflows",
        "kinds": forms.KINDS,
        "triggers": [t.value for t in Trigger],
        "timers": [t.value for t in TIMERS],
        "references": {name: choices(db, name) for name in sorted(used)},
        "named": {
            "types": [t.name for t in defs.incident_types(db)],
            "severities": [s.name for s in defs.severities(db)],
            "priorities": [p.name for p in defs.priorities(db)],
            "services": list(db.scalars(select(Service.name).order_by(Service.name))),
            "teams": list(db.scalars(select(Team.name).order_by(Team.name))),
        },
    }


def _form_page(
    request: Request,
    db: Session,
    user: User,
    draft: forms.Draft,
    workflow: Workflow | None,
    *,
    error: DomainError | None = None,
    status: int = 200,
) -> Response:
    context = {
        **_editor(db),
        "draft": draft,
        "w": workflow,
        "error": error.message if error else None,
        "error_field": (error.field or "") if error else "",
        "runs": queries.recent_runs(db, workflow, user) if workflow else [],
        "can_edit": user.role == "admin",
    }
    return render(request, "workflows/form.html", context, status)


def _get(db: Session, workflow_id: int) -> Workflow:
    return service.get_workflow(db, workflow_id)


@router.get(URL)
def list_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    context = {
        "section": "workflows",
        "workflows": service.list_workflows(db),
        "last": queries.last_runs(db),
        "triggers": [t.value for t in Trigger],
    }
    return render(request, "workflows/list.html", context)


@router.get(f"{URL}/new")
def new_page(request: Request, db: DbSession, admin: Admin) -> Response:
    return _form_page(request, db, admin, forms.blank(), None)


@router.get(f"{URL}/test")
def test_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    incident: str = "",
    trigger: str = "declared",
    workflow: int | None = None,
) -> Response:
    """What a trigger would run on an incident now, and why the others would not: reads only."""
    context: dict[str, Any] = {
        "section": "workflows",
        "triggers": [t.value for t in Trigger],
        "ref": incident,
        "trigger": trigger,
        "workflow_id": workflow,
    }
    status = 200
    if incident.strip():
        try:
            if trigger not in context["triggers"]:
                raise ValidationFailed(f"trigger: no trigger {trigger!r}", field="trigger")
            found = incident_queries.get_incident(db, incident.strip(), viewer=user)
        except DomainError as exc:
            context["error"] = exc.message
            status = 422 if exc.field else 404
        else:
            ran = dryrun.would_run(db, found, trigger)
            ran_ids = {p.workflow_id for p in ran}
            others = [
                dryrun.preview(db, w, found)
                for w in service.list_workflows(db)
                if w.trigger == trigger and w.id not in ran_ids
            ]
            context.update(found=found, would_run=ran, would_not=others)
    return render(request, "workflows/test.html", context, status)


@router.post(f"{URL}/new")
def create(
    request: Request, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    draft = forms.from_form(form)
    try:
        if forms.change(draft, text(form, "op"), text(form, "new_kind")):
            return _form_page(request, db, admin, draft, None)
        data = forms.service_data(draft)
        position = queries.next_position(db)
        guard = OutboundGuard.from_settings(settings)
        workflow = service.create(db, by=admin, position=position, guard=guard, **data)
    except DomainError as exc:
        db.rollback()
        return _form_page(request, db, admin, draft, None, error=exc, status=422)
    return redirect(f"{URL}/{workflow.id}", notice=f"Workflow “{workflow.name}” created.")


@router.get(URL + "/{workflow_id}")
def workflow_page(
    workflow_id: WorkflowId, request: Request, db: DbSession, user: CurrentUser
) -> Response:
    workflow = _get(db, workflow_id)
    return _form_page(request, db, user, forms.from_workflow(workflow), workflow)


@router.post(URL + "/{workflow_id}")
def save(
    workflow_id: WorkflowId,
    request: Request,
    db: DbSession,
    admin: Admin,
    settings: AppSettings,
    form: Form,
) -> Response:
    workflow = _get(db, workflow_id)
    draft = forms.from_form(form)
    try:
        if forms.change(draft, text(form, "op"), text(form, "new_kind")):
            return _form_page(request, db, admin, draft, workflow)
        guard = OutboundGuard.from_settings(settings)
        service.edit(db, workflow, forms.service_data(draft), guard=guard)
    except DomainError as exc:
        db.rollback()
        return _form_page(request, db, admin, draft, _get(db, workflow_id), error=exc, status=422)
    return redirect(f"{URL}/{workflow.id}", notice="Workflow saved.")


@router.post(URL + "/{workflow_id}/enabled")
def set_enabled(workflow_id: WorkflowId, db: DbSession, admin: Admin, form: Form) -> Response:
    workflow = _get(db, workflow_id)
    on = text(form, "enabled") == "on"
    notice = f"Workflow “{workflow.name}” {'enabled' if on else 'disabled'}."
    return perform(
        db, URL, lambda: service.edit(db, workflow, {"enabled": on}, guard=None), notice=notice
    )


@router.post(URL + "/{workflow_id}/move")
def move(workflow_id: WorkflowId, db: DbSession, admin: Admin, form: Form) -> Response:
    workflow = _get(db, workflow_id)
    offset = -1 if text(form, "direction") == "up" else 1
    return perform(db, URL, lambda: service.move(db, workflow, offset))


@router.get(URL + "/{workflow_id}/delete")
def confirm_delete(
    workflow_id: WorkflowId, request: Request, db: DbSession, admin: Admin
) -> Response:
    context = {"section": "workflows", "w": _get(db, workflow_id)}
    return render(request, "workflows/delete.html", context)


@router.post(URL + "/{workflow_id}/delete")
def delete(workflow_id: WorkflowId, db: DbSession, admin: Admin) -> Response:
    workflow = _get(db, workflow_id)
    notice = f"Workflow “{workflow.name}” deleted; its runs stay on their incidents."
    return perform(db, URL, lambda: service.delete(db, workflow), notice=notice)
