"""API shapes for teams, users and services, and the building blocks every API module shares."""

from __future__ import annotations

from datetime import datetime
from types import NoneType, UnionType
from typing import (
    Annotated,
    Any,
    Generic,
    Literal,
    TypedDict,
    TypeVar,
    Union,
    Unpack,
    get_args,
    get_origin,
)

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic.config import JsonDict

from tocsin.catalog.models import Service, Team, User
from tocsin.catalog.service import PASSWORD_MIN
from tocsin.validation import EMAIL_RE, WHITESPACE

T = TypeVar("T")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone offset, e.g. 2026-11-23T06:00:00+00:00")
    return value


def _not_a_number(value: object) -> object:
    """Pydantic reads a number, or a string of one, as seconds since 1970: `start=0.5` would
    be 1970-01-01. A time is written as one (ISO 8601), as the OpenAPI document says."""
    if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
        raise ValueError("must be a date and time (ISO 8601), e.g. 2026-11-23T06:00:00+00:00")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# Input: a datetime written in ISO 8601 that carries its offset (a naive one is ambiguous, so
# it is a 422, as is a number).
Aware = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_aware)]
# Output: ISO 8601 with the offset spelled out, `2026-11-23T06:00:00+00:00`.
Timestamp = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str)]

# No text may contain NUL (PostgreSQL cannot store it; the services refuse it).
NO_NUL = r"^[^\x00]*$"
# A name or title must say something: blank (or only spaces) is refused, as the services do.
NOT_BLANK = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
# The rules below that the services check themselves, with a message naming the field, are
# only stated (json_schema_extra) for the OpenAPI document: pydantic does not check them first.
NOT_BLANK_TEXT: dict[str, Any] = {"minLength": 1, "pattern": NOT_BLANK}
Name = Annotated[str, Field(max_length=120, json_schema_extra=NOT_BLANK_TEXT)]
Label = Annotated[str, Field(max_length=120)]  # may be blank
# An IANA time zone the server's tz database knows (the services check it with zoneinfo); the
# document names it with a format of its own, `time-zone`.
TimeZoneName = Annotated[
    str,
    Field(max_length=64, json_schema_extra={"format": "time-zone", "examples": ["Europe/Paris"]}),
]
# An email address as the services accept one (tocsin.validation.EMAIL_RE).
Email = Annotated[
    str,
    Field(
        max_length=254,
        json_schema_extra={"pattern": EMAIL_RE.pattern.replace("[^@", "[^@\\x00")},
    ),
]
LongText = Annotated[str, Field(max_length=5000)]
# Ids, here and in paths and queries: at most 2**31 - 1, what the id columns hold (INTEGER on
# PostgreSQL); a larger one names nothing, and is refused as out of range.
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
UserRoleName = Literal["admin", "responder", "viewer"]


class FieldConstraints(TypedDict, total=False):
    """The `Field` arguments an omittable field may carry."""

    description: str
    min_length: int
    max_length: int
    ge: int
    le: int
    pattern: str
    json_schema_extra: JsonDict


def omittable(**constraints: Unpack[FieldConstraints]) -> Any:
    """A PATCH field that may be left out but not sent as null.

    The annotation (without None) is what a request may send, so an explicit null is a 422;
    left out, the attribute holds None, which only marks "not sent", so read these models
    through `model_dump(exclude_unset=True)`. The result is typed `Any` because that None is
    not a value of the annotation.
    """
    return Field(default=None, **constraints)


def _declare_no_nul(schema: dict[str, Any]) -> None:
    """Say in a body's JSON Schema that its text fields refuse NUL, as `Strict` does."""
    for prop in schema.get("properties", {}).values():
        for option in [prop, *prop.get("anyOf", [])]:
            if option.get("type") == "string" and not option.keys() & _CONSTRAINED:
                option["pattern"] = NO_NUL


_CONSTRAINED = {"pattern", "format", "enum", "const", "contentMediaType"}


class Strict(BaseModel):
    """A request body: unknown fields are refused, so typos do not pass silently; and a
    boolean or a number must be sent as one, as the OpenAPI document says (left to itself,
    pydantic reads 0, 1 and "yes" as booleans and "5" as a number)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_declare_no_nul)

    @model_validator(mode="before")
    @classmethod
    def _json_scalars(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                if name in data:
                    _check_scalar(name, field.annotation, data[name])
        return data


def not_a_boolean(value: object) -> object:
    """For a number inside a list, where `Strict` does not look: pydantic takes false as 0."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


def _check_scalar(name: str, annotation: Any, value: object) -> None:
    """Refuse a value of the wrong JSON type for a boolean or numeric field."""
    if value is None:
        return  # the field's own type says whether null is allowed
    members = (
        set(get_args(annotation)) if get_origin(annotation) in (Union, UnionType) else {annotation}
    )
    members.discard(NoneType)
    if members == {bool} and not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    if members and members <= {int, float} and isinstance(value, bool | str):
        raise ValueError(f"{name} must be a number")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"{name} contains a NUL character")


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
    email: Email
    role: UserRoleName = "responder"
    timezone: TimeZoneName = "UTC"
    password: str | None = Field(
        default=None, max_length=1024, json_schema_extra={"minLength": PASSWORD_MIN}
    )
    team_ids: list[Id] = []


class UserPatch(Strict):
    name: Name = omittable()
    email: Email = omittable()
    role: UserRoleName = omittable()
    timezone: TimeZoneName = omittable()
    password: str | None = Field(
        default=None, max_length=1024, json_schema_extra={"minLength": PASSWORD_MIN}
    )
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


class TeamMemberIn(Strict):
    role: Literal["admin", "responder", "viewer"] = Field(
        default="responder", description="The person's role in this team"
    )


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


class TeamMemberOut(Out):
    """A member of a team with their team role (on top of their org `role`)."""

    user: UserRef
    role: Literal["admin", "responder", "viewer"]


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


def team_member_out(user: User, role: str) -> TeamMemberOut:
    return TeamMemberOut.model_validate({"user": user_ref(user), "role": role})


def service_out(service: Service) -> ServiceOut:
    return ServiceOut.model_validate(service)
