"""API shapes for postmortems."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tocsin.catalog.schemas import (
    NOT_BLANK,
    Aware,
    Id,
    Strict,
    Timestamp,
    UserRef,
    omittable,
    user_ref,
)
from tocsin.definitions.models import Severity
from tocsin.incidents.schemas import HTTP_URL
from tocsin.postmortems import compare, queries
from tocsin.postmortems.blameless import Suggestion
from tocsin.postmortems.models import (
    Postmortem,
    PostmortemPolicy,
    PostmortemRevision,
    PostmortemSection,
    PostmortemTemplate,
)
from tocsin.postmortems.service import OVERRIDE_MAX, SECTION_MAX
from tocsin.postmortems.type_templates import (
    GUIDANCE_MAX,
    KEY_MAX,
    MAX_SECTIONS,
    TEXT_MAX,
    TITLE_MAX,
    default_sections,
)
from tocsin.web.markdown import render_markdown
from tocsin.web.openapi import ErrorBody

PostmortemStatusName = Literal["draft", "in_review", "reviewed", "closed"]
SectionKey = Annotated[str, Field(max_length=64)]
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]

# --- requests ---------------------------------------------------------------------------


class PostmortemPatch(Strict):
    owner_id: Id | None = Field(default=None, description="null leaves it without an owner")
    meeting_at: Aware | None = Field(default=None, description="When the review meeting is")
    recording_url: str = omittable(
        max_length=2048,
        description="The meeting's recording (http or https; empty clears it)",
        json_schema_extra={"pattern": f"^$|{HTTP_URL}"},
    )


class PostmortemStatusIn(Strict):
    status: PostmortemStatusName
    override: str = Field(
        default="",
        max_length=OVERRIDE_MAX,
        description="Admins only: why the postmortem is marked reviewed without the reviewers' "
        "approval (on the timeline)",
    )


class SectionIn(Strict):
    body: str = Field(max_length=SECTION_MAX, description="Markdown")
    base_version: Version = Field(
        description="The section's version the edit started from; 409 if it changed since"
    )


# --- responses --------------------------------------------------------------------------


class IncidentBrief(BaseModel):
    id: int
    reference: str
    title: str
    status: str
    severity: str | None


class SectionOut(BaseModel):
    key: str
    title: str
    kind: str = Field(description="`markdown`, or the pre-filled part it started from")
    guidance: str = Field(description="Markdown: what the section is for")
    body: str
    html: str = Field(description="The body as sanitized HTML")
    version: int
    updated_at: Timestamp
    updated_by: UserRef | None


class PostmortemSummary(BaseModel):
    id: int
    incident: IncidentBrief
    status: PostmortemStatusName
    owner: UserRef | None
    meeting_due_at: Timestamp | None
    draft_due_at: Timestamp | None
    due_at: Timestamp | None = Field(description="The next deadline for its status")
    overdue: bool
    meeting_at: Timestamp | None
    recording_url: str
    version: int
    published_at: Timestamp | None = Field(description="When it was published; null if not")
    created_at: Timestamp
    updated_at: Timestamp


class PostmortemOut(PostmortemSummary):
    sections: list[SectionOut]


class RevisionOut(BaseModel):
    version: int
    body: str
    saved_by: UserRef | None
    saved_at: Timestamp


class RevisionList(BaseModel):
    items: list[RevisionOut]
    total: int


class SuggestionOut(BaseModel):
    id: str = Field(description="Stable while the sentence it is about is unchanged")
    rule: Literal[
        "human_error", "person", "outage", "alternate_reality", "timeline_link",
        "fix_in_description",
    ]  # fmt: skip
    section_key: str
    match: str = Field(description="The words that matched")
    text: str = Field(description="The sentence or timeline row they are in")
    why: str


class SuggestionList(BaseModel):
    items: list[SuggestionOut]
    total: int


class DiffLineOut(BaseModel):
    op: Literal["same", "added", "removed"]
    text: str


class DiffOut(BaseModel):
    key: str
    from_version: int
    to_version: int
    lines: list[DiffLineOut] = Field(description="Every line of both versions, in order")
    unified: str = Field(description="The unified diff, three lines of context")


class SectionConflictBody(ErrorBody):
    yours: str = Field(description="The text you sent (not saved)")
    saved: str = Field(description="The text saved since")
    saved_version: int = Field(description="Send this as base_version to save again")


class SectionConflictOut(BaseModel):
    """409 from saving a section that changed since: both texts, nothing lost."""

    error: SectionConflictBody


def _incident(postmortem: Postmortem) -> IncidentBrief:
    incident = postmortem.incident
    return IncidentBrief(
        id=incident.id,
        reference=incident.reference,
        title=incident.title,
        status=incident.status,
        severity=incident.severity.name if incident.severity else None,
    )


def summary_out(postmortem: Postmortem, now: datetime) -> PostmortemSummary:
    return PostmortemSummary(**_summary(postmortem, now))


def _summary(postmortem: Postmortem, now: datetime) -> dict[str, object]:
    return {
        "id": postmortem.id,
        "incident": _incident(postmortem),
        "status": postmortem.status,
        "owner": user_ref(postmortem.owner),
        "meeting_due_at": postmortem.meeting_due_at,
        "draft_due_at": postmortem.draft_due_at,
        "due_at": queries.due_at(postmortem),
        "overdue": queries.is_overdue(postmortem, now),
        "meeting_at": postmortem.meeting_at,
        "recording_url": postmortem.recording_url,
        "version": postmortem.version,
        "published_at": postmortem.published_at,
        "created_at": postmortem.created_at,
        "updated_at": postmortem.updated_at,
    }


def section_out(section: PostmortemSection) -> SectionOut:
    return SectionOut(
        key=section.key,
        title=section.title,
        kind=section.kind,
        guidance=section.guidance,
        body=section.body,
        html=str(render_markdown(section.body, tables=True)),
        version=section.version,
        updated_at=section.updated_at,
        updated_by=user_ref(section.updated_by),
    )


def postmortem_out(postmortem: Postmortem, now: datetime) -> PostmortemOut:
    return PostmortemOut(
        **_summary(postmortem, now),
        sections=[section_out(s) for s in postmortem.sections],
    )


def revision_out(revision: PostmortemRevision) -> RevisionOut:
    return RevisionOut(
        version=revision.version,
        body=revision.body,
        saved_by=user_ref(revision.saved_by),
        saved_at=revision.saved_at,
    )


MeetingUnitName = Literal["calendar_days", "business_days"]


class PolicyIn(Strict):
    required: bool = Field(description="Resolving an incident of this severity starts one")
    meeting_within: int = Field(ge=0, le=365, description="Days after resolving")
    meeting_unit: MeetingUnitName = "business_days"
    draft_hours_before: int = Field(default=24, ge=0, le=24 * 60)


class PolicyOut(BaseModel):
    severity_id: int
    severity: str
    required: bool
    meeting_within: int | None
    meeting_unit: MeetingUnitName | None
    draft_hours_before: int | None


class PolicyList(BaseModel):
    items: list[PolicyOut]
    total: int


def policy_out(severity: Severity, policy: PostmortemPolicy | None) -> PolicyOut:
    return PolicyOut(
        severity_id=severity.id,
        severity=severity.name,
        required=bool(policy and policy.required),
        meeting_within=policy.meeting_within if policy else None,
        meeting_unit=policy.meeting_unit if policy else None,
        draft_hours_before=policy.draft_hours_before if policy else None,
    )


def suggestion_out(suggestion: Suggestion) -> SuggestionOut:
    return SuggestionOut(
        id=suggestion.id,
        rule=suggestion.rule,
        section_key=suggestion.section_key,
        match=suggestion.match,
        text=suggestion.text,
        why=suggestion.why,
    )


def diff_out(key: str, old: PostmortemRevision, new: PostmortemRevision) -> DiffOut:
    return DiffOut(
        key=key,
        from_version=old.version,
        to_version=new.version,
        lines=[DiffLineOut(op=d.op, text=d.text) for d in compare.diff_lines(old.body, new.body)],
        unified=compare.unified(
            old.body, new.body, f"{key} version {old.version}", f"{key} version {new.version}"
        ),
    )


# --- templates per incident type ----------------------------------------------------------

# The kinds of `template.KINDS`: `markdown`, or the pre-filled part a section starts from.
SectionKind = Literal[
    "markdown",
    "overview",
    "what_happened",
    "resolution",
    "impact",
    "responders",
    "timeline",
    "action_items",
    "internal_email",
    "external_message",
]


class TemplateSectionIn(Strict):
    key: str = Field(
        min_length=1,
        max_length=KEY_MAX,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Unique in the template: lowercase letters, digits and _",
    )
    title: str = Field(max_length=TITLE_MAX, pattern=NOT_BLANK)
    kind: SectionKind = Field(
        default="markdown",
        description="`markdown` starts with `text`; any other kind is pre-filled from the "
        "incident (`text` when there is nothing to fill)",
    )
    guidance: str = Field(default="", max_length=GUIDANCE_MAX, description="Markdown")
    text: str = Field(default="", max_length=TEXT_MAX, description="Markdown")


class TemplateIn(Strict):
    sections: list[TemplateSectionIn] = Field(
        min_length=1, max_length=MAX_SECTIONS, description="In order; keys unique"
    )


class TemplateSectionOut(BaseModel):
    key: str
    title: str
    kind: SectionKind
    guidance: str
    text: str


class PostmortemTemplateOut(BaseModel):
    incident_type_id: int
    incident_type: str
    custom: bool = Field(description="false: the type uses PagerDuty's template, the default")
    sections: list[TemplateSectionOut]
    updated_at: Timestamp | None


def template_out(
    type_id: int, type_name: str, own: PostmortemTemplate | None
) -> PostmortemTemplateOut:
    sections = own.sections if own is not None else default_sections()
    return PostmortemTemplateOut(
        incident_type_id=type_id,
        incident_type=type_name,
        custom=own is not None,
        sections=[TemplateSectionOut.model_validate(s) for s in sections],
        updated_at=own.updated_at if own is not None else None,
    )
