"""API shapes for escalation policies, a service's paging settings and the paging record."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.orm import object_session

from tocsin.catalog.schemas import (
    Id,
    LongText,
    Name,
    Strict,
    Timestamp,
    TimeZoneName,
    not_a_boolean,
)
from tocsin.escalation.models import EscalationPolicy, EscalationRun, ServicePaging
from tocsin.escalation.policies import MAX_REPEAT
from tocsin.escalation.windows import DAY_KEYS, HHMM
from tocsin.schedules.models import Schedule
from tocsin.validation import WHITESPACE

DAY_PATTERNS = ["".join(f"[{c.upper()}{c}]" for c in day) for day in DAY_KEYS]
# A weekday by name (its first three letters decide: "mon", "Tuesday") or number (0: Monday).
Weekday = (
    Annotated[
        str, Field(json_schema_extra={"pattern": rf"^[{WHITESPACE}]*({'|'.join(DAY_PATTERNS)})"})
    ]
    | Annotated[
        int, Field(json_schema_extra={"minimum": 0, "maximum": 6}), BeforeValidator(not_a_boolean)
    ]
)


class WindowIn(Strict):
    days: list[Weekday] = Field(
        description="Weekdays: mon, tue, ... sun (or 0 for Monday to 6 for Sunday)",
        max_length=7,
        json_schema_extra={"minItems": 1},
    )
    start: str = Field(description="HH:MM, local time", json_schema_extra={"pattern": HHMM.pattern})
    end: str = Field(
        description="HH:MM, local time; at or before start crosses midnight",
        json_schema_extra={"pattern": HHMM.pattern},
    )
    timezone: TimeZoneName = "UTC"


class TargetIn(Strict):
    kind: Literal["user", "schedule", "team"]
    id: Id


class LevelIn(Strict):
    delay_minutes: int = Field(
        default=15,
        description="Minutes before the next level",
        json_schema_extra={"minimum": 1, "maximum": 1440},
    )
    round_robin: bool = Field(default=False, description="Page one of the level's people in turn")
    window: WindowIn | None = Field(default=None, description="Only page inside this window")
    targets: list[TargetIn] = Field(
        max_length=50, json_schema_extra={"minItems": 1, "uniqueItems": True}
    )


REPEAT: dict[str, Any] = {"minimum": 0, "maximum": MAX_REPEAT}


class PolicyIn(Strict):
    name: Name
    description: LongText = ""
    repeat: int = Field(
        default=0, description="Extra times through the policy", json_schema_extra=REPEAT
    )
    team_id: Id | None = None
    levels: list[LevelIn] = Field(max_length=20, json_schema_extra={"minItems": 1})


class PolicyPatch(Strict):
    name: Name | SkipJsonSchema[None] = None  # null: refused, as it may not be cleared
    description: LongText | None = None
    repeat: Annotated[int, Field(json_schema_extra=REPEAT)] | SkipJsonSchema[None] = None
    team_id: Id | None = None
    levels: (
        Annotated[list[LevelIn], Field(max_length=20, json_schema_extra={"minItems": 1})]
        | SkipJsonSchema[None]
    ) = None


class TargetOut(BaseModel):
    kind: str
    id: int
    name: str


class LevelOut(BaseModel):
    level: int
    delay_minutes: int
    round_robin: bool
    window: dict[str, Any] | None
    targets: list[TargetOut]


class PolicyOut(BaseModel):
    id: int
    name: str
    description: str
    repeat: int
    team_id: int | None
    levels: list[LevelOut]
    services: list[str]


class PagingIn(Strict):
    policy_id: Id | None
    low_urgency: Literal["notify", "support_hours", "page"] = "notify"
    support_hours: WindowIn | None = None


class PagingOut(BaseModel):
    service_id: int
    policy_id: int | None
    policy: str | None
    low_urgency: str
    support_hours: dict[str, Any] | None


class EscalateIn(Strict):
    level: int = Field(description="1 is the first level")
    policy_id: Id | None = Field(default=None, description="Default: the service's policy")


class PageIn(Strict):
    user_ids: list[Id] = Field(default_factory=list, max_length=50)
    team_ids: list[Id] = Field(default_factory=list, max_length=20)
    message: str = Field(default="", max_length=1000)


class ReassignIn(Strict):
    user_id: Id


class StepOut(BaseModel):
    cycle: int
    level: int
    at: Timestamp
    outcome: str
    decisions: list[dict[str, Any]]
    paged_user_ids: list[int]


class NotificationOut(BaseModel):
    id: int
    user_id: int
    user: str
    channel: str
    reason: str
    state: str
    detail: str
    planned_at: Timestamp | None
    sent_at: Timestamp | None


class RunOut(BaseModel):
    id: int
    label: str
    reason: str
    state: str
    state_reason: str
    started_at: Timestamp
    next_at: Timestamp | None
    ended_at: Timestamp | None
    steps: list[StepOut]


class PagingRecordOut(BaseModel):
    runs: list[RunOut]
    notifications: list[NotificationOut]


def _target_name(target: Any) -> str:
    if target.user is not None:
        return str(target.user.name)
    if target.team is not None:
        return str(target.team.name)

    session = object_session(target)
    schedule = session.get(Schedule, target.schedule_id) if session else None
    return schedule.name if schedule else f"schedule {target.schedule_id}"


def policy_out(policy: EscalationPolicy, services: list[str]) -> PolicyOut:
    return PolicyOut(
        id=policy.id,
        name=policy.name,
        description=policy.description,
        repeat=policy.repeat,
        team_id=policy.team_id,
        services=services,
        levels=[
            LevelOut(
                level=level.position + 1,
                delay_minutes=level.delay_minutes,
                round_robin=level.round_robin,
                window=level.window,
                targets=[
                    TargetOut(
                        kind=t.kind,
                        id=t.user_id or t.schedule_id or t.team_id or 0,
                        name=_target_name(t),
                    )
                    for t in level.targets
                ],
            )
            for level in policy.levels
        ],
    )


def paging_out(service_id: int, paging: ServicePaging | None) -> PagingOut:
    if paging is None:
        return PagingOut(
            service_id=service_id,
            policy_id=None,
            policy=None,
            low_urgency="notify",
            support_hours=None,
        )
    return PagingOut(
        service_id=service_id,
        policy_id=paging.policy_id,
        policy=paging.policy.name if paging.policy else None,
        low_urgency=paging.low_urgency,
        support_hours=paging.support_hours,
    )


def run_out(run: EscalationRun, state: str, state_reason: str) -> RunOut:
    return RunOut(
        id=run.id,
        label=run.label,
        reason=run.reason,
        state=state,
        state_reason=state_reason,
        started_at=run.started_at,
        next_at=run.next_at if state in ("active", "waiting") else None,
        ended_at=run.ended_at,
        steps=[
            StepOut(
                cycle=s.cycle,
                level=s.level + 1,
                at=s.at,
                outcome=s.outcome,
                decisions=s.decisions,
                paged_user_ids=s.paged_user_ids,
            )
            for s in run.steps
        ],
    )
