"""The YAML format, as pydantic models. References are names, emails and slugs, never ids."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeverityDoc(Item):
    name: str = Field(max_length=32)
    label: str = Field(max_length=64)
    description: str = ""
    rank: int = 1
    response_target_minutes: int | None = None
    response_next_business_day: bool = False
    color: str = "#888888"


class PriorityDoc(Item):
    name: str = Field(max_length=32)
    description: str = ""
    rank: int = 1


class RoleDoc(Item):
    slug: str = Field(max_length=64)
    name: str = Field(max_length=120)
    description: str = ""
    responsibilities: list[str] = []


class FieldDoc(Item):
    key: str
    label: str
    kind: str = "text"
    required: bool = False
    options: list[str] = []
    help_text: str = ""


class IncidentTypeDoc(Item):
    name: str = Field(max_length=120)
    description: str = ""
    default_severity: str | None = None
    default_priority: str | None = None
    default_restricted: bool = False
    roles_to_fill: list[str] = []
    fields: list[FieldDoc] = []


class UserDoc(Item):
    name: str = Field(max_length=120)
    email: str = Field(max_length=254)
    role: str = "responder"
    timezone: str = "UTC"


class TeamDoc(Item):
    name: str = Field(max_length=120)
    description: str = ""
    members: list[str] = []


class ServiceDoc(Item):
    name: str = Field(max_length=120)
    description: str = ""
    team: str | None = None
    tier: int = 2


class Document(Item):
    """The whole file. Later issues add sections (schedules, escalation policies, ...)."""

    version: int = 1
    severities: list[SeverityDoc] = []
    priorities: list[PriorityDoc] = []
    roles: list[RoleDoc] = []
    templates: dict[str, str] = {}
    incident_types: list[IncidentTypeDoc] = []
    users: list[UserDoc] = []
    teams: list[TeamDoc] = []
    services: list[ServiceDoc] = []
