"""API shapes of a dry run of paging."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from tocsin.catalog.schemas import Name, Strict, Timestamp, TimeZoneName
from tocsin.simulation.service import Simulation

Moment = Annotated[
    str,
    Field(
        max_length=100,
        description="ISO 8601 date and time followed by an IANA time zone, or with an offset; "
        "without either it is read in `timezone`. Empty or `now`: now.",
        examples=["2026-12-25T03:00 Europe/London"],
    ),
]


class SimulateIn(Strict):
    service: Name = Field(description="The service's name (or id)")
    severity: Name | None = Field(default=None, description="e.g. SEV2")
    type: Name | None = Field(default=None, description="An incident type's name")
    urgency: Literal["high", "low"] | None = Field(
        default=None, description="Default: the severity's default urgency"
    )
    at: Moment | None = None
    timezone: TimeZoneName | None = Field(
        default=None, description="Reads a time without a zone, and shows times [UTC]"
    )


class DeliveryOut(BaseModel):
    method: str
    kind: str
    delay_minutes: int
    at: Timestamp


class PersonOut(BaseModel):
    user_id: int
    name: str
    why: str
    deliveries: list[DeliveryOut]
    note: str


class LevelOut(BaseModel):
    time: int = Field(description="1 the first time through the policy, 2 its first repeat…")
    level: int
    at: Timestamp
    after_minutes: int = Field(description="Minutes after the incident is declared")
    outcome: Literal["paged", "skipped", "nobody"]
    text: str
    people: list[PersonOut]
    targets: list[dict[str, Any]]


class PolicyRunOut(BaseModel):
    service: str
    policy: str
    starts_at: Timestamp
    start: str
    levels: list[LevelOut]
    notes: list[str]
    end: str


class ChannelOut(BaseModel):
    name: str
    audience: str
    kind: str
    automatic: bool
    due_at: Timestamp | None
    because: str


class WorkflowOut(BaseModel):
    name: str
    actions: list[str]


class SimulationOut(BaseModel):
    at: Timestamp
    timezone: str
    service: str
    severity: str | None
    type: str | None
    urgency: str
    summary: str
    nobody: bool = Field(description="True when nobody would be paged at all")
    maintenance: str
    runs: list[PolicyRunOut]
    without_policy: list[str]
    channels: list[ChannelOut]
    workflows: list[WorkflowOut] = Field(
        description="The workflows declaring it would run, and what each action would do"
    )


def simulation_out(sim: Simulation) -> SimulationOut:
    return SimulationOut(
        at=sim.at,
        timezone=sim.timezone,
        service=sim.service,
        severity=sim.severity,
        type=sim.incident_type,
        urgency=sim.urgency,
        summary=sim.summary,
        nobody=sim.nobody,
        maintenance=sim.maintenance,
        runs=[
            PolicyRunOut(
                service=run.service,
                policy=run.policy,
                starts_at=run.starts_at,
                start=run.start,
                notes=run.notes,
                end=run.end,
                levels=[
                    LevelOut(
                        time=level.time,
                        level=level.level,
                        at=level.at,
                        after_minutes=int((level.at - sim.at).total_seconds() // 60),
                        outcome=level.outcome,
                        text=level.text,
                        targets=level.targets,
                        people=[
                            PersonOut(
                                user_id=p.user_id,
                                name=p.name,
                                why=p.why,
                                note=p.note,
                                deliveries=[
                                    DeliveryOut(
                                        method=d.method,
                                        kind=d.kind,
                                        delay_minutes=d.delay_minutes,
                                        at=d.at,
                                    )
                                    for d in p.deliveries
                                ],
                            )
                            for p in level.people
                        ],
                    )
                    for level in run.levels
                ],
            )
            for run in sim.runs
        ],
        without_policy=sim.without_policy,
        channels=[
            ChannelOut(
                name=c.name,
                audience=c.audience,
                kind=c.kind,
                automatic=c.automatic,
                due_at=c.due_at,
                because=c.because,
            )
            for c in sim.channels
        ],
        workflows=[WorkflowOut(name=w.name, actions=list(w.actions)) for w in sim.workflows],
    )
