"""API shapes of the response plan: the document tree as JSON."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tocsin.catalog.schemas import Strict, omittable
from tocsin.plan.service import TEXT_MAX


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class MotionRowOut(_Out):
    workflow: str = Field(description="The workflow's name")
    when: str = Field(description="Its trigger in words: 'when declared', …")
    limits: str = Field(description="Its other conditions in words; empty when none")
    actions: list[str] = Field(description="Each action, in words, in order")


class SeverityRowOut(_Out):
    name: str
    label: str
    description: str
    response_target: str
    urgency: str
    postmortem: str
    paging: str = Field(description="What paging does at the default urgency, in words")
    workflows: list[MotionRowOut] = Field(
        description="The enabled workflows an incident of this severity starts, in order"
    )


class RoleRowOut(_Out):
    slug: str
    name: str
    description: str
    responsibilities: list[str]
    primary: str
    backup: str


class ChannelRowOut(_Out):
    name: str
    audience: str
    description: str
    when: str
    who: str
    how: str
    reach: str


class TemplateRowOut(_Out):
    phase: str
    label: str
    body: str


class LevelRowOut(_Out):
    number: int
    targets: list[str]
    escalate_after_minutes: int


class EscalationPathOut(_Out):
    service: str
    policy: str | None
    levels: list[LevelRowOut]
    repeat: int


class PlanOut(_Out):
    """The organisation's incident response plan as configured now. Text fields marked
    Markdown in the docs are as the admins wrote them (render them sanitized)."""

    generated_at: datetime
    what_is_an_incident: str
    values: str
    severities: list[SeverityRowOut]
    roles: list[RoleRowOut]
    channels: list[ChannelRowOut]
    templates: list[TemplateRowOut]
    escalation: list[EscalationPathOut]


class PlanSettingsIn(Strict):
    """The plan's own text. A field left out keeps its text; an empty string clears it."""

    what_is_an_incident: str = omittable(
        max_length=TEXT_MAX, description="Markdown: what counts as an incident"
    )
    values: str = omittable(max_length=TEXT_MAX, description="Markdown: the incident values")


class PlanSettingsOut(BaseModel):
    what_is_an_incident: str = Field(description="Markdown, as written (render it sanitized)")
    values: str = Field(description="Markdown, as written (render it sanitized)")
