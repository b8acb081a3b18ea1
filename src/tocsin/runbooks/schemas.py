"""API shapes for runbooks, their versions, and their progress on an incident."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from tocsin.catalog.schemas import (
    NOT_BLANK_TEXT,
    Id,
    Ref,
    Strict,
    Timestamp,
    UserRef,
    omittable,
    user_ref,
)
from tocsin.runbooks import service
from tocsin.runbooks.models import IncidentRunbook, Runbook, RunbookVersion
from tocsin.runbooks.progress import progress

RunbookName = Annotated[str, Field(max_length=service.NAME_MAX, json_schema_extra=NOT_BLANK_TEXT)]
# The length is checked by the service, whose message says how long the text was.
Body = Annotated[
    str,
    Field(
        description="Markdown: each step a line `- [ ] text`, optionally ending "
        "`(role: scribe)`; lines indented under a step are its detail",
        json_schema_extra={"maxLength": service.BODY_MAX, **NOT_BLANK_TEXT},
    ),
]


class RunbookIn(Strict):
    name: RunbookName
    body: Body
    incident_type_id: Id | None = None
    service_ids: list[Id] = Field(default=[], max_length=500)
    auto_attach: bool = Field(
        default=False,
        description="Attach by itself to incidents declared with its type and/or services",
    )


class RunbookPatch(Strict):
    name: RunbookName = omittable()
    body: Body = omittable()
    incident_type_id: Id | None = None
    service_ids: list[Id] = omittable(max_length=500)
    auto_attach: bool = omittable()


class AttachIn(Strict):
    runbook_id: Id


class StepOut(BaseModel):
    number: int
    text: str
    role: str | None


class VersionOut(BaseModel):
    number: int
    title: str
    body: str
    steps: list[StepOut]
    created_at: Timestamp
    created_by: UserRef | None


class VersionList(BaseModel):
    items: list[VersionOut]


class RunbookOut(BaseModel):
    id: int
    name: str
    incident_type: Ref | None
    services: list[Ref]
    auto_attach: bool
    current_version: int
    body: str
    steps: list[StepOut]
    updated_at: Timestamp


class RunbookList(BaseModel):
    items: list[RunbookOut]


class StepProgressOut(StepOut):
    done: bool
    ticked_by: UserRef | None
    ticked_at: Timestamp | None


class AttachmentOut(BaseModel):
    id: int
    runbook_id: int
    title: str
    version: int
    attached_at: Timestamp
    attached_by: UserRef | None
    steps: list[StepProgressOut]


class AttachmentList(BaseModel):
    items: list[AttachmentOut]


def version_out(version: RunbookVersion) -> VersionOut:
    return VersionOut(
        number=version.number,
        title=version.title,
        body=version.body,
        steps=[StepOut(**s) for s in version.steps],
        created_at=version.created_at,
        created_by=user_ref(version.created_by),
    )


def runbook_out(runbook: Runbook) -> RunbookOut:
    now = service.current(runbook)
    kind = runbook.incident_type
    return RunbookOut(
        id=runbook.id,
        name=runbook.name,
        incident_type=Ref(id=kind.id, name=kind.name) if kind else None,
        services=[Ref(id=s.id, name=s.name) for s in runbook.services],
        auto_attach=runbook.auto_attach,
        current_version=runbook.current_version,
        body=now.body,
        steps=[StepOut(**s) for s in now.steps],
        updated_at=runbook.updated_at,
    )


def attachment_out(attachment: IncidentRunbook) -> AttachmentOut:
    return AttachmentOut(
        id=attachment.id,
        runbook_id=attachment.runbook_id,
        title=attachment.version.title,
        version=attachment.version.number,
        attached_at=attachment.attached_at,
        attached_by=user_ref(attachment.attached_by),
        steps=[
            StepProgressOut(
                number=p.number,
                text=p.text,
                role=p.role,
                done=p.tick is not None,
                ticked_by=user_ref(p.tick.ticked_by) if p.tick else None,
                ticked_at=p.tick.ticked_at if p.tick else None,
            )
            for p in progress(attachment)
        ],
    )
