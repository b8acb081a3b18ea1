"""API shapes for teams, users and services, and the building blocks every API module shares."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from tocsin.catalog.models import Service, Team, User

T = TypeVar("T")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone offset, e.g. 2026-11-23T06:00:00+00:00")
    return value


# Input: a datetime that carries its offset (a naive one is ambiguous, so it is a 422).
Aware = Annotated[datetime, AfterValidator(_aware)]
# Output: ISO 8601 with the offset spelled out, `2026-11-23T06:00:00+00:00`.
Timestamp = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str)]

Name = Annotated[str, Field(max_length=120)]
LongText = Annotated[str, Field(max_length=5000)]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
UserRoleName = Literal["admin", "responder", "viewer"]


class Strict(BaseModel):
    """A request body: unknown fields are refused, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response, read straight from an ORM object's attributes."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def page(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def window(rows: list[Any], limit: int, offset: int) -> dict[str, Any]:
    """A page cut from a short list that is loaded whole (vocabulary, timeline, tokens)."""
    return page(rows[offset : offset + limit], len(rows), limit, offset)


# --- requests ---------------------------------------------------------------------------
# PATCH models: a field left out is not changed. Fields that cannot be cleared are typed
# without None, so an explicit null is a 422 (their None default only marks "not sent").


class UserIn(Strict):
    name: Name
    email: str = Field(max_length=254)
    role: UserRoleName = "responder"
    timezone: str = Field(default="UTC", max_length=64)
    password: str | None = Field(default=None, max_length=1024)
    team_ids: list[Id] = []


class UserPatch(Strict):
    name: Name = Field(default=None)
    email: str = Field(default=None, max_length=254)
    role: UserRoleName = Field(default=None)
    timezone: str = Field(default=None, max_length=64)
    password: str | None = Field(default=None, max_length=1024)
    active: bool = Field(default=None)
    team_ids: list[Id] = Field(default=None)


class TeamIn(Strict):
    name: Name
    description: LongText = ""
    member_ids: list[Id] = []


class TeamPatch(Strict):
    name: Name = Field(default=None)
    description: LongText = Field(default=None)
    member_ids: list[Id] = Field(default=None)


class ServiceIn(Strict):
    name: Name
    description: LongText = ""
    team_id: Id | None = None
    tier: int = Field(default=2, ge=1, le=4)


class ServicePatch(Strict):
    name: Name = Field(default=None)
    description: LongText = Field(default=None)
    team_id: Id | None = None
    tier: int = Field(default=None, ge=1, le=4)


# --- responses --------------------------------------------------------------------------


class Ref(Out):
    id: int
    name: str


class UserRef(Out):
    id: int
    name: str
    email: str


class UserOut(Out):
    """A user; never the password hash."""

    id: int
    name: str
    email: str
    role: UserRoleName
    timezone: str
    active: bool
    teams: list[Ref]
    created_at: Timestamp


class TeamOut(Out):
    id: int
    name: str
    description: str
    members: list[UserRef]
    services: list[Ref]


class ServiceOut(Out):
    id: int
    name: str
    description: str
    tier: int
    team: Ref | None


def user_ref(user: User | None) -> UserRef | None:
    return UserRef.model_validate(user) if user is not None else None


def user_out(user: User) -> UserOut:
    return UserOut.model_validate(user)


def team_out(team: Team) -> TeamOut:
    return TeamOut.model_validate(team)


def service_out(service: Service) -> ServiceOut:
    return ServiceOut.model_validate(service)
