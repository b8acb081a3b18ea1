"""JSON routes for workflows: CRUD (admins write), an incident's runs, and "test against an
incident" (what a trigger would run on it, without doing anything). An incident the caller
may not see answers 404, as everywhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession
from tocsin.incidents import queries as incident_queries
from tocsin.outbound import OutboundGuard
from tocsin.web.openapi import errors
from tocsin.workflows import dryrun, service
from tocsin.workflows.delivery import signing_secret
from tocsin.workflows.schemas import (
    PreviewOut,
    RunList,
    SecretOut,
    WorkflowIn,
    WorkflowList,
    WorkflowOut,
    WorkflowPatch,
    preview_out,
    run_out,
    workflow_out,
)
from tocsin.workflows.triggers import Trigger

router = APIRouter(prefix="/api/v1", tags=["workflows"])

WorkflowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Ref = Annotated[str, Path(max_length=40, description="INC-42 or 42")]


@router.get("/workflows", response_model=WorkflowList)
def list_workflows(db: DbSession, user: CurrentUser) -> WorkflowList:
    """Every workflow, in the order they run."""
    return WorkflowList(items=[workflow_out(w) for w in service.list_workflows(db)])


@router.post("/workflows", status_code=201, response_model=WorkflowOut, responses=errors(409))
def create_workflow(
    body: WorkflowIn, db: DbSession, admin: Admin, settings: AppSettings
) -> WorkflowOut:
    """A new workflow. 422 names the action and field at fault (a webhook URL reaching a
    private address unless the settings allow it); 409 for a name in use."""
    data = body.model_dump(mode="json")
    guard = OutboundGuard.from_settings(settings)
    return workflow_out(service.create(db, by=admin, guard=guard, **data))


@router.get("/workflows/{workflow_id}", response_model=WorkflowOut, responses=errors(404))
def get_workflow(workflow_id: WorkflowId, db: DbSession, user: CurrentUser) -> WorkflowOut:
    return workflow_out(service.get_workflow(db, workflow_id))


@router.patch("/workflows/{workflow_id}", response_model=WorkflowOut, responses=errors(404, 409))
def edit_workflow(
    workflow_id: WorkflowId, body: WorkflowPatch, db: DbSession, admin: Admin, settings: AppSettings
) -> WorkflowOut:
    workflow = service.get_workflow(db, workflow_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    guard = OutboundGuard.from_settings(settings)
    return workflow_out(service.edit(db, workflow, changes, guard=guard))


@router.get(
    "/workflows/{workflow_id}/signing-secret", response_model=SecretOut, responses=errors(404)
)
def get_signing_secret(
    workflow_id: WorkflowId, db: DbSession, admin: Admin, settings: AppSettings
) -> SecretOut:
    """The secret signing the workflow's webhook calls (admins), to verify them with."""
    workflow = service.get_workflow(db, workflow_id)
    return SecretOut(signing_secret=signing_secret(settings.secret_key, workflow))


@router.post(
    "/workflows/{workflow_id}/rotate-secret", response_model=SecretOut, responses=errors(404)
)
def rotate_signing_secret(
    workflow_id: WorkflowId, db: DbSession, admin: Admin, settings: AppSettings
) -> SecretOut:
    """A new signing secret for its webhook calls; the old one stops matching at once."""
    workflow = service.get_workflow(db, workflow_id)
    service.rotate_secret(db, workflow)
    return SecretOut(signing_secret=signing_secret(settings.secret_key, workflow))


@router.delete(
    "/workflows/{workflow_id}", status_code=204, response_class=Response, responses=errors(404)
)
def delete_workflow(workflow_id: WorkflowId, db: DbSession, admin: Admin) -> Response:
    """Delete it; its runs stay on their incidents, under its name."""
    service.delete(db, service.get_workflow(db, workflow_id))
    return Response(status_code=204)


@router.get("/incidents/{ref}/workflow-runs", response_model=RunList, responses=errors(404))
def incident_runs(ref: Ref, db: DbSession, user: CurrentUser) -> RunList:
    """The workflows run on the incident (oldest first): what each action did, or why the
    run was skipped."""
    incident = incident_queries.get_incident(db, ref, viewer=user)
    return RunList(items=[run_out(r) for r in service.runs_of(db, incident)])


@router.get(
    "/incidents/{ref}/workflow-preview", response_model=list[PreviewOut], responses=errors(404)
)
def test_against_incident(
    ref: Ref,
    db: DbSession,
    user: CurrentUser,
    trigger: Annotated[Trigger, Query()] = Trigger.declared,
) -> list[PreviewOut]:
    """What `trigger` would run on the incident now, and what each action would do, without
    doing it (nothing is written)."""
    incident = incident_queries.get_incident(db, ref, viewer=user)
    return [preview_out(p) for p in dryrun.would_run(db, incident, trigger)]
