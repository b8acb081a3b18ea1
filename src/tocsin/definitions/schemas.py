"""API shapes for the incident vocabulary: severities, priorities, roles, types, templates."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from tocsin.catalog.schemas import NOT_BLANK_TEXT, Id, LongText, Name, Out, Ref, Strict, omittable
from tocsin.definitions.models import IncidentRole, IncidentType, Severity, UpdateTemplate
from tocsin.definitions.service import KEY_RE
from tocsin.validation import WHITESPACE

FieldKindName = Literal["text", "number", "single_select", "multi_select", "user", "boolean", "url"]
PhaseName = Literal["investigating", "identified", "monitoring", "resolved"]
Urgency = Literal["high", "low"]
# Stored options may be NULL in old rows; the API always answers a list.
Options = Annotated[list[str], BeforeValidator(lambda value: list(value or []))]

# --- requests ---------------------------------------------------------------------------
# PATCH models: a field left out is not changed; fields typed without None refuse null.


class SeverityIn(Strict):
    name: str = Field(min_length=1, max_length=32)
    label: str = omittable(max_length=64, json_schema_extra=NOT_BLANK_TEXT)
    description: LongText = ""
    rank: int = Field(default=1, ge=1, le=100)
    response_target_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 90)
    response_next_business_day: bool = False
    color: str = Field(default="#888888", pattern=r"^#[0-9a-fA-F]{6}$", max_length=7)
    default_urgency: Urgency = Field(
        default="high", description="How incidents declared with this severity page by default"
    )


class SeverityPatch(Strict):
    name: str = omittable(min_length=1, max_length=32)
    label: str = omittable(max_length=64, json_schema_extra=NOT_BLANK_TEXT)
    description: LongText = omittable()
    rank: int = omittable(ge=1, le=100)
    response_target_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 90)
    response_next_business_day: bool = omittable()
    color: str = omittable(pattern=r"^#[0-9a-fA-F]{6}$", max_length=7)
    default_urgency: Urgency = omittable()


class PriorityIn(Strict):
    name: str = Field(min_length=1, max_length=32)
    description: LongText = ""
    rank: int = Field(default=1, ge=1, le=100)


class PriorityPatch(Strict):
    name: str = omittable(min_length=1, max_length=32)
    description: LongText = omittable()
    rank: int = omittable(ge=1, le=100)


Responsibilities = str | list[str]


# A role's slug as the service takes one (after stripping spaces); empty for one derived from
# the name.
SLUG = rf"^[{WHITESPACE}]*{KEY_RE.pattern[1:-1]}[{WHITESPACE}]*$"
DERIVED_OR_KEY = f"^$|{SLUG}"


class RoleIn(Strict):
    slug: str | None = Field(
        default=None,
        max_length=64,
        json_schema_extra={"pattern": DERIVED_OR_KEY},
        description="Derived from the name when left out (or empty)",
    )
    name: Name
    description: LongText = ""
    responsibilities: Responsibilities = Field(default="", description="One per line, or a list")
    position: int = Field(default=0, ge=0, le=1000)
    multiple: bool = Field(
        default=False, description="Whether an incident may have several holders (e.g. SMEs)"
    )


class RolePatch(Strict):
    slug: str = omittable(min_length=1, max_length=64, json_schema_extra={"pattern": SLUG})
    name: Name = omittable()
    description: LongText = omittable()
    responsibilities: Responsibilities = omittable()
    position: int = omittable(ge=0, le=1000)
    multiple: bool = omittable()


class FieldIn(Strict):
    key: str = Field(
        max_length=64,
        description="lower_case letters, digits and _",
        json_schema_extra={"pattern": SLUG},
    )
    label: str | None = Field(default=None, max_length=120)
    kind: FieldKindName = "text"
    required: bool = False
    options: list[str] = Field(default=[], max_length=200)
    help_text: str = Field(default="", max_length=1000)


class IncidentTypeIn(Strict):
    name: Name
    description: LongText = ""
    default_severity_id: Id | None = None
    default_priority_id: Id | None = None
    default_restricted: bool = False
    role_ids: list[Id] = []
    fields: list[FieldIn] = Field(default=[], max_length=100)


class IncidentTypePatch(Strict):
    name: Name = omittable()
    description: LongText = omittable()
    default_severity_id: Id | None = None
    default_priority_id: Id | None = None
    default_restricted: bool = omittable()
    role_ids: list[Id] = omittable()
    fields: list[FieldIn] = omittable(max_length=100)


class TemplateIn(Strict):
    body: str = Field(max_length=5000)


# --- responses --------------------------------------------------------------------------


class SeverityOut(Out):
    id: int
    name: str
    label: str
    description: str
    rank: int
    response_target_minutes: int | None
    response_next_business_day: bool
    response_target: str = Field(validation_alias="response_target_text")
    color: str
    default_urgency: Urgency


class PriorityOut(Out):
    id: int
    name: str
    description: str
    rank: int


class RoleOut(Out):
    id: int
    slug: str
    name: str
    description: str
    responsibilities: list[str] = Field(validation_alias="responsibility_list")
    position: int
    multiple: bool = Field(description="Several holders on one incident, or one")


class RoleRef(Out):
    id: int
    slug: str
    name: str


class FieldOut(Out):
    key: str
    label: str
    kind: FieldKindName
    required: bool
    options: Options
    help_text: str


class IncidentTypeOut(Out):
    id: int
    name: str
    description: str
    default_severity: Ref | None
    default_priority: Ref | None
    default_restricted: bool
    roles_to_fill: list[RoleRef]
    fields: list[FieldOut]


class TemplateOut(Out):
    phase: PhaseName
    body: str


def severity_out(sev: Severity) -> SeverityOut:
    return SeverityOut.model_validate(sev)


def role_out(role: IncidentRole) -> RoleOut:
    return RoleOut.model_validate(role)


def type_out(itype: IncidentType) -> IncidentTypeOut:
    return IncidentTypeOut.model_validate(itype)


def template_out(template: UpdateTemplate) -> TemplateOut:
    return TemplateOut.model_validate(template)
