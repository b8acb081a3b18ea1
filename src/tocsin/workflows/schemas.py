"""API shapes for workflows and their runs. Actions and conditions are the models the
service validates with (`actions.Action`, `triggers.Conditions`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from tocsin.catalog.schemas import NOT_BLANK_TEXT, Strict, Timestamp, omittable
from tocsin.workflows.actions import MAX_ACTIONS, Action
from tocsin.workflows.dryrun import Preview
from tocsin.workflows.models import Workflow, WorkflowRun
from tocsin.workflows.triggers import Conditions, Trigger

Name = Annotated[str, Field(max_length=200, json_schema_extra=NOT_BLANK_TEXT)]
Minutes = Annotated[int, Field(ge=1, le=10080, description="For the timer triggers")]
Actions = Annotated[list[Action], Field(max_length=MAX_ACTIONS, description="In order")]


class WorkflowIn(Strict):
    name: Name
    trigger: Trigger
    trigger_minutes: Minutes | None = None
    trigger_field: str = Field(default="", max_length=64, description="field_changed: which")
    conditions: Conditions = Field(default_factory=Conditions)
    actions: Actions
    enabled: bool = True
    position: int = Field(default=0, ge=0, le=10000)


class SecretOut(BaseModel):
    signing_secret: str = Field(description="Verifies the X-Tocsin-Signature of its calls")


class WorkflowPatch(Strict):
    name: Name = omittable()
    trigger: Trigger = omittable()
    trigger_minutes: Minutes | None = omittable()
    trigger_field: str = omittable(max_length=64)
    conditions: Conditions = omittable()
    actions: Actions = omittable()
    enabled: bool = omittable()
    position: int = omittable(ge=0, le=10000)


class WorkflowOut(BaseModel):
    id: int
    name: str
    enabled: bool
    trigger: str
    trigger_minutes: int | None
    trigger_field: str
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    position: int


class WorkflowList(BaseModel):
    items: list[WorkflowOut]


class RunOut(BaseModel):
    id: int
    workflow_id: int | None
    workflow_name: str
    trigger: str
    depth: int
    state: str = Field(description="queued, running, waiting, done, skipped or failed")
    reason: str
    outcomes: list[str] = Field(description="What each action did, in order")
    created_at: Timestamp
    finished_at: Timestamp | None


class RunList(BaseModel):
    items: list[RunOut]


class PreviewOut(BaseModel):
    workflow_id: int
    name: str
    runs: bool
    reason: str = Field(description="Why it would not run (empty when it would)")
    actions: list[str] = Field(description="What each action would do, in words")


def workflow_out(w: Workflow) -> WorkflowOut:
    return WorkflowOut(
        id=w.id,
        name=w.name,
        enabled=w.enabled,
        trigger=w.trigger,
        trigger_minutes=w.trigger_minutes,
        trigger_field=w.trigger_field,
        conditions=w.conditions,
        actions=w.actions,
        position=w.position,
    )


def run_out(r: WorkflowRun) -> RunOut:
    return RunOut(
        id=r.id,
        workflow_id=r.workflow_id,
        workflow_name=r.workflow_name,
        trigger=r.trigger,
        depth=r.depth,
        state=r.state,
        reason=r.reason,
        outcomes=list(r.outcomes),
        created_at=r.created_at,
        finished_at=r.finished_at,
    )


def preview_out(p: Preview) -> PreviewOut:
    return PreviewOut(
        workflow_id=p.workflow_id,
        name=p.name,
        runs=p.runs,
        reason=p.reason,
        actions=list(p.actions),
    )
