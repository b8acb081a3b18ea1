"""API shapes for teams, users and services, and the building blocks every API module shares."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypedDict, TypeVar, Unpack

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


class FieldConstraints(TypedDict, total=False):
    """The `Field` arguments an omittable field may carry."""

    description: str
    min_length: int
    max_length: int
    ge: int
    le: int
    pattern: str


def omittable(**constraints: Unpack[FieldConstraints]) -> Any:
    """A PATCH field that may be left out but not sent as null.

    The annotation (without None) is what a request may send, so an explicit null is a 422;
    left out, the attribute holds None, which only marks "not sent", so read these models
    through `model_dump(exclude_unset=True)`. The result is typed `Any` because that None is
    not a value of the annotation.
    """
    return Field(default=None, **constraints)


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
# without None, so an explicit null is a 422 (`omittable`: their None marks "not sent").


class UserIn(Strict):
    name: Name
    email: str = Field(max_length=254)
    role: UserRoleName = "responder"
    timezone: str = Field(default="UTC", max_length=64)
    password: str | None = Field(default=None, max_length=1024)
    team_ids: list[Id] = []


class UserPatch(Strict):
    name: Name = omittable()
    email: str = omittable(max_length=254)
    role: UserRoleName = omittable()
    timezone: str = omittable(max_length=64)
    password: str | None = Field(default=None, max_length=1024)
    active: bool = omittable()
    team_ids: list[Id] = omittable()


class TeamIn(Strict):
    name: Name
    description: LongText = ""
    member_ids: list[Id] = []


class TeamPatch(Strict):
    name: Name = omittable()
    description: LongText = omittable()
    member_ids: list[Id] = omittable()


class ServiceIn(Strict):
    name: Name
    description: LongText = ""
    team_id: Id | None = None
    tier: int = Field(default=2, ge=1, le=4)


class ServicePatch(Strict):
    name: Name = omittable()
    description: LongText = omittable()
    team_id: Id | None = None
    tier: int = omittable(ge=1, le=4)


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
