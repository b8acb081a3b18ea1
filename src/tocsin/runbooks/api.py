"""JSON routes for runbooks, and for the runbooks attached to an incident.

Everyone logged in reads; responders write, attach and tick. An incident the caller may not
see answers 404, as everywhere.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from tocsin.deps import CurrentUser, DbSession, Responder
from tocsin.incidents import queries as incident_queries
from tocsin.runbooks import progress, service
from tocsin.runbooks.schemas import (
    AttachIn,
    AttachmentList,
    AttachmentOut,
    RunbookIn,
    RunbookList,
    RunbookOut,
    RunbookPatch,
    VersionList,
    VersionOut,
    attachment_out,
    runbook_out,
    version_out,
)
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["runbooks"])

RunbookId = Annotated[int, Path(ge=1, le=2**31 - 1)]
AttachmentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
StepNumber = Annotated[int, Path(ge=1, le=service.STEPS_MAX, description="1-based")]
Ref = Annotated[str, Path(max_length=40, description="INC-42 or 42")]


@router.get("/runbooks", response_model=RunbookList)
def list_runbooks(db: DbSession, user: CurrentUser) -> RunbookList:
    """Every runbook (not deleted), by name, with its current version."""
    return RunbookList(items=[runbook_out(r) for r in service.list_runbooks(db)])


@router.post("/runbooks", status_code=201, response_model=RunbookOut, responses=errors(404))
def create_runbook(body: RunbookIn, db: DbSession, user: Responder) -> RunbookOut:
    """A new runbook at version 1. 422 for a body without steps, with an unknown role, or
    too long; 404 for an unknown type or service."""
    return runbook_out(service.create(db, by=user, **body.model_dump()))


@router.get("/runbooks/{runbook_id}", response_model=RunbookOut)
def get_runbook(runbook_id: RunbookId, db: DbSession, user: CurrentUser) -> RunbookOut:
    return runbook_out(service.get_runbook(db, runbook_id))


@router.patch("/runbooks/{runbook_id}", response_model=RunbookOut, responses=errors(404))
def edit_runbook(
    runbook_id: RunbookId, body: RunbookPatch, db: DbSession, user: Responder
) -> RunbookOut:
    """Change what is sent; a new name or body is a new version (incidents keep theirs)."""
    runbook = service.get_runbook(db, runbook_id)
    return runbook_out(service.edit(db, runbook, by=user, **body.model_dump(exclude_unset=True)))


@router.delete("/runbooks/{runbook_id}", status_code=204, response_class=Response)
def delete_runbook(runbook_id: RunbookId, db: DbSession, user: Responder) -> Response:
    """Withdraw the runbook; incidents holding it keep their copy and its progress."""
    service.delete(db, service.get_runbook(db, runbook_id), by=user)
    return Response(status_code=204)


@router.get("/runbooks/{runbook_id}/versions", response_model=VersionList)
def list_versions(runbook_id: RunbookId, db: DbSession, user: CurrentUser) -> VersionList:
    """Every version, newest first."""
    runbook = service.get_runbook(db, runbook_id)
    return VersionList(items=[version_out(v) for v in reversed(runbook.versions)])


@router.get("/runbooks/{runbook_id}/versions/{number}", response_model=VersionOut)
def get_version(
    runbook_id: RunbookId, number: VersionNumber, db: DbSession, user: CurrentUser
) -> VersionOut:
    runbook = service.get_runbook(db, runbook_id)
    return version_out(service.get_version(db, runbook, number))


@router.get("/incidents/{ref}/runbooks", response_model=AttachmentList)
def incident_runbooks(ref: Ref, db: DbSession, user: CurrentUser) -> AttachmentList:
    """The incident's runbooks, each at its version, with who ticked which step and when."""
    incident = incident_queries.get_incident(db, ref, viewer=user)
    return AttachmentList(items=[attachment_out(a) for a in progress.attachments(db, incident)])


@router.post(
    "/incidents/{ref}/runbooks",
    status_code=201,
    response_model=AttachmentOut,
    responses={
        200: {"model": AttachmentOut, "description": "It was already attached"},
        **errors(404),
    },
)
def attach_runbook(ref: Ref, body: AttachIn, db: DbSession, user: Responder) -> Any:
    """Attach the runbook's current version (200 with the one it holds if already there)."""
    incident = incident_queries.get_incident(db, ref, viewer=user)
    runbook = service.get_runbook(db, body.runbook_id)
    existing = service.attachment_of(db, incident, runbook)
    attachment = existing or service.attach(db, incident, runbook, by=user)
    out = attachment_out(attachment)
    if existing is not None:
        return JSONResponse(out.model_dump(mode="json"), status_code=200)
    return out


@router.put(
    "/incidents/{ref}/runbooks/{attachment_id}/steps/{number}", response_model=AttachmentOut
)
def tick_step(
    ref: Ref, attachment_id: AttachmentId, number: StepNumber, db: DbSession, user: Responder
) -> AttachmentOut:
    """Mark the step done (idempotent: done already, nothing changes)."""
    incident = incident_queries.get_incident(db, ref, viewer=user)
    attachment = progress.get_attachment(db, incident, attachment_id)
    progress.tick(db, incident, attachment, number, by=user)
    return attachment_out(attachment)


@router.delete(
    "/incidents/{ref}/runbooks/{attachment_id}/steps/{number}", response_model=AttachmentOut
)
def untick_step(
    ref: Ref, attachment_id: AttachmentId, number: StepNumber, db: DbSession, user: Responder
) -> AttachmentOut:
    """Mark the step not done (idempotent)."""
    incident = incident_queries.get_incident(db, ref, viewer=user)
    attachment = progress.get_attachment(db, incident, attachment_id)
    progress.untick(db, incident, attachment, number, by=user)
    return attachment_out(attachment)
