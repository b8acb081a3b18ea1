"""One object of each section, as a pydantic model. References are names, emails and slugs.

Only the fields written in the file are managed: a field left out keeps its current value on
an existing object and takes the default shown here on a new one. Strings are stripped the
way the service functions strip them, so that a file and the database compare equal.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tocsin import validation as v
from tocsin.errors import ValidationFailed

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
FieldKindName = Literal["text", "number", "single_select", "multi_select", "user", "boolean", "url"]
PhaseName = Literal["investigating", "identified", "monitoring", "resolved"]


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SeverityDoc(Item):
    name: str = Field(min_length=1, max_length=32)
    label: str = Field(default="", max_length=64)
    description: str = ""
    rank: int = Field(default=1, ge=1, le=100)
    response_target_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 90)
    response_next_business_day: bool = False
    color: str = Field(default="#888888", pattern=r"^#[0-9a-fA-F]{6}$")


class PriorityDoc(Item):
    name: str = Field(min_length=1, max_length=32)
    description: str = ""
    rank: int = Field(default=1, ge=1, le=100)


class RoleDoc(Item):
    slug: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    responsibilities: list[str] = []

    @field_validator("responsibilities")
    @classmethod
    def _one_per_line(cls, value: list[str]) -> list[str]:
        # Stored one per line: blank entries vanish and a multi-line entry becomes several.
        return [line.strip() for item in value for line in item.splitlines() if line.strip()]


class FieldDoc(Item):
    key: str = Field(pattern=KEY_PATTERN)
    label: str = ""
    kind: FieldKindName = "text"
    required: bool = False
    options: list[str] = []
    help_text: str = ""

    @model_validator(mode="after")
    def _label_and_options(self) -> FieldDoc:
        if not self.label:
            self.label = self.key
        if self.kind in ("single_select", "multi_select") and not self.options:
            raise ValueError(f"a {self.kind} field needs options")
        return self


class IncidentTypeDoc(Item):
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    default_severity: str | None = None
    default_priority: str | None = None
    default_restricted: bool = False
    roles_to_fill: list[str] = []
    fields: list[FieldDoc] = []

    @field_validator("fields")
    @classmethod
    def _unique_keys(cls, value: list[FieldDoc]) -> list[FieldDoc]:
        keys = [f.key for f in value]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"field key(s) used twice: {', '.join(twice)}")
        return value


class UserDoc(Item):
    name: str = Field(min_length=1, max_length=120)
    email: str = Field(max_length=254)
    role: Literal["admin", "responder", "viewer"] = "responder"
    timezone: str = "UTC"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _checked(v.email, value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return _checked(v.timezone, value)


class TeamDoc(Item):
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    members: list[str] = []

    @field_validator("members")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        return sorted({_checked(v.email, email) for email in value})


class ServiceDoc(Item):
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    team: str | None = None
    tier: int = Field(default=2, ge=1, le=4)


def _checked(check, value: str) -> str:  # type: ignore[no-untyped-def]
    """Run one of tocsin.validation's checks as a pydantic validator."""
    try:
        return check(value)  # type: ignore[no-any-return]
    except ValidationFailed as exc:
        raise ValueError(exc.message) from exc
