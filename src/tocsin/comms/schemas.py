"""API shapes for communication channels, stakeholders, service followers, deliveries and an
incident's communication panel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from tocsin.catalog.schemas import Id, Name, Out, Strict, Timestamp, omittable
from tocsin.comms.due import Due
from tocsin.comms.models import CommsChannel, CommsDelivery, ServiceFollower, Stakeholder
from tocsin.comms.panel import ChannelRow
from tocsin.comms.rules import conditions_text, posters_text
from tocsin.comms.service import display_target

AudienceName = Literal["internal", "external"]
KindName = Literal["apprise", "email", "webhook", "manual"]
ImpactName = Literal["any", "yes", "no"]
PostRoleName = Literal["admin", "responder"]
LongText = Annotated[str, Field(max_length=5000)]
Names = Annotated[list[Annotated[str, Field(max_length=120)]], Field(max_length=200)]
Target = Annotated[
    str,
    Field(
        max_length=2048,
        description="apprise: an Apprise URL; email: a list address; webhook: an http(s) URL; "
        "manual: none",
    ),
]
Cadence = Annotated[int, Field(description="Minutes between updates while open (5–10080)")]


class ChannelIn(Strict):
    name: Name
    kind: KindName
    audience: AudienceName = "internal"
    target: Target | None = None
    description: LongText = ""
    instructions: LongText = Field(default="", description="How to post; required for manual")
    automatic: bool = Field(default=True, description="Every matching update goes here")
    paused: bool = False
    severities: Names = Field(default=[], description="Severity names; none means any")
    services: Names = Field(default=[], description="Service names; none means any")
    customer_impact: ImpactName = "any"
    include_restricted: bool = False
    post_user_roles: list[PostRoleName] = []
    post_incident_roles: Names = Field(default=[], description="Incident role slugs")
    cadence_minutes: Cadence | None = None
    position: int = Field(default=0, ge=0, le=1000)


class ChannelPatch(Strict):
    name: Name = omittable()
    kind: KindName = omittable()
    audience: AudienceName = omittable()
    target: Target | None = Field(default=None, description="The masked value keeps the URL")
    description: LongText = omittable()
    instructions: LongText = omittable()
    automatic: bool = omittable()
    paused: bool = omittable()
    severities: Names = omittable()
    services: Names = omittable()
    customer_impact: ImpactName = omittable()
    include_restricted: bool = omittable()
    post_user_roles: list[PostRoleName] = omittable()
    post_incident_roles: Names = omittable()
    cadence_minutes: Cadence | None = Field(default=None)
    position: int = omittable(ge=0, le=1000)


class ChannelOut(Out):
    id: int
    name: str
    kind: str
    audience: str
    target: str = Field(description="Tokens in Apprise and webhook URLs are masked")
    description: str
    instructions: str
    automatic: bool
    paused: bool
    severities: list[str]
    services: list[str]
    customer_impact: str
    include_restricted: bool
    post_user_roles: list[str]
    post_incident_roles: list[str]
    posters: str = Field(description="Who may post, in words")
    conditions: str = Field(description="When it is used, in words")
    cadence_minutes: int | None
    position: int
    last_ok: bool | None
    last_result: str
    last_result_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class ChannelCreated(ChannelOut):
    signing_secret: str | None = Field(
        default=None, description="Webhooks only: shown this once; verify X-Tocsin-Signature"
    )


class SecretOut(Out):
    signing_secret: str


def channel_out(channel: CommsChannel, secret: str | None = None) -> ChannelCreated:
    return ChannelCreated(
        id=channel.id,
        name=channel.name,
        kind=channel.kind,
        audience=channel.audience,
        target=display_target(channel),
        description=channel.description,
        instructions=channel.instructions,
        automatic=channel.automatic,
        paused=channel.paused,
        severities=[s.name for s in channel.severities],
        services=[s.name for s in channel.services],
        customer_impact=channel.customer_impact,
        include_restricted=channel.include_restricted,
        post_user_roles=list(channel.post_user_roles or []),
        post_incident_roles=[r.slug for r in channel.post_incident_roles],
        posters=posters_text(channel),
        conditions=conditions_text(channel),
        cadence_minutes=channel.cadence_minutes,
        position=channel.position,
        last_ok=channel.last_ok,
        last_result=channel.last_result,
        last_result_at=channel.last_result_at,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
        signing_secret=secret,
    )


class StakeholderIn(Strict):
    user_id: Id | None = None
    team_id: Id | None = None


class StakeholderOut(Out):
    id: int
    kind: Literal["user", "team"]
    user_id: int | None
    team_id: int | None
    name: str
    added_by: str | None
    reason: str = Field(
        description='Why Tocsin added them: "follows Checkout"; empty when added by a person'
    )
    via_service_id: int | None = Field(description="The followed service that brought them in")
    created_at: Timestamp


def stakeholder_out(row: Stakeholder) -> StakeholderOut:
    return StakeholderOut(
        id=row.id,
        kind="user" if row.user_id is not None else "team",
        user_id=row.user_id,
        team_id=row.team_id,
        name=row.name,
        added_by=row.added_by.name if row.added_by else None,
        reason=row.reason,
        via_service_id=row.via_service_id,
        created_at=row.created_at,
    )


class FollowerIn(Strict):
    # Exactly one of the two, as the service requires.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": [key], "properties": {key: {"type": "integer"}}}
                for key in ("user_id", "team_id")
            ]
        }
    )

    user_id: Id | None = Field(default=None, description="A person (give this or team_id)")
    team_id: Id | None = Field(default=None, description="A team (give this or user_id)")


class FollowerOut(Out):
    id: int
    service_id: int
    kind: Literal["user", "team"]
    user_id: int | None
    team_id: int | None
    name: str
    active: bool = Field(description="False for a deactivated person (never added)")
    created_by: str | None
    created_at: Timestamp


def follower_out(row: ServiceFollower) -> FollowerOut:
    return FollowerOut(
        id=row.id,
        service_id=row.service_id,
        kind="user" if row.user_id is not None else "team",
        user_id=row.user_id,
        team_id=row.team_id,
        name=row.name,
        active=row.user.active if row.user is not None else True,
        created_by=row.created_by.name if row.created_by else None,
        created_at=row.created_at,
    )


class MarkPostedIn(Strict):
    note: str = Field(default="", max_length=2000, description="What was said, and where")


class DeliveryOut(Out):
    id: int
    purpose: str = Field(
        description="update, manual (posted by hand), reminder, or message (a workflow's)"
    )
    recipient: str
    via: str
    reason: str
    state: str = Field(description="planned, sending, sent, failed or skipped")
    attempts: int
    detail: str
    channel_id: int | None
    user_id: int | None
    update_id: int | None
    due_at: Timestamp | None
    by: str | None
    results: dict[str, Any] = Field(description="People: the result per contact method")
    created_at: Timestamp
    sent_at: Timestamp | None


def delivery_out(d: CommsDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        purpose=d.purpose,
        recipient=d.recipient,
        via=d.via,
        reason=d.reason,
        state=d.state,
        attempts=d.attempts,
        detail=d.detail,
        channel_id=d.channel_id,
        user_id=d.user_id,
        update_id=d.update_id,
        due_at=d.due_at,
        by=d.by.name if d.by else None,
        results=dict(d.results or {}),
        created_at=d.created_at,
        sent_at=d.sent_at,
    )


class ChannelStatusOut(Out):
    channel_id: int
    name: str
    kind: str
    audience: str
    automatic: bool
    paused: bool
    instructions: str
    posters: str
    conditions: str
    can_post: bool = Field(description="Whether you may post (or mark posted) here")
    last_at: Timestamp | None = Field(description="When what last reached it was posted")
    due_at: Timestamp | None
    due_because: str
    overdue: bool
    last_delivery: DeliveryOut | None


def channel_status_out(row: ChannelRow) -> ChannelStatusOut:
    due: Due = row.due
    channel = row.channel
    return ChannelStatusOut(
        channel_id=channel.id,
        name=channel.name,
        kind=channel.kind,
        audience=channel.audience,
        automatic=channel.automatic,
        paused=channel.paused,
        instructions=channel.instructions,
        posters=row.posters,
        conditions=row.conditions,
        can_post=row.can_post,
        last_at=due.last_at,
        due_at=due.due_at,
        due_because=due.because,
        overdue=row.overdue,
        last_delivery=delivery_out(row.last) if row.last else None,
    )


class CommunicationOut(Out):
    channels: list[ChannelStatusOut] = Field(description="The channels that apply, with due times")
    stakeholders: list[StakeholderOut]
    following: bool = Field(description="Whether you follow the incident")
    deliveries: list[DeliveryOut] = Field(description="Newest first (the last 100)")
