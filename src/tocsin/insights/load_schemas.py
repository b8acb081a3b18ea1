"""API shapes of the on-call load (GET /api/v1/insights/on-call)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from tocsin.insights.filters import Filters
from tocsin.insights.load import Load


class PeriodOut(BaseModel):
    period: str = Field(description="week, month, quarter or range")
    label: str
    start: str = Field(description="Included, ISO 8601 UTC")
    end: str = Field(description="Excluded (now, for a period still running)")
    timezone: str = Field(description="The organisation's zone the period is cut in")
    team: int | None
    service: int | None
    severity: str | None
    type: str | None


class PersonLoadOut(BaseModel):
    user_id: int
    name: str
    teams: list[str]
    timezone: str = Field(description="The person's zone now (pages read in the zone they had)")
    pages: int = Field(
        description="Pages: one per incident and escalation step, however many deliveries"
    )
    out_of_hours: int = Field(
        description="Pages outside the working days and hours, in the person's zone"
    )
    sleep: int = Field(description="Pages from 22:00 to 07:00 in the person's zone")
    incidents: int = Field(description="Distinct incidents paged for")
    acknowledged: int = Field(description="Pages the person acknowledged")
    median_tta: float | None = Field(description="Median seconds from page to acknowledgement")
    level2: int = Field(description="Pages at escalation level 2 or later")


class TeamLoadOut(BaseModel):
    team_id: int
    name: str
    people: int = Field(description="Members with pages")
    pages: int
    out_of_hours: int
    sleep: int
    incidents: int
    acknowledged: int
    median_tta: float | None
    level2: int
    escalations: int = Field(description="Escalations past the first level of the team's policies")


class WeekLoadOut(BaseModel):
    start: date = Field(description="The week's Monday")
    pages: int
    out_of_hours: int
    sleep: int


class IncidentLoadOut(BaseModel):
    incident_id: int
    number: int
    title: str
    pages: int
    people: int
    out_of_hours: int


class OnCallLoadOut(BaseModel):
    """The on-call load of a period: drills left out; restricted incidents counted, listed
    only to those who may see them."""

    filters: PeriodOut
    working_hours: str
    working_days: str
    pages: int
    out_of_hours: int
    sleep: int
    incidents: int
    level2: int
    median_tta: float | None
    people: list[PersonLoadOut]
    teams: list[TeamLoadOut]
    weeks: list[WeekLoadOut]
    top_incidents: list[IncidentLoadOut] = Field(description="The most paged incidents you may see")
    hidden_incidents: int = Field(
        description="Restricted incidents among the most paged, counted but not listed"
    )
    rotations: dict[str, Any] = Field(
        description="Hours on call per person and schedule, shifts, and each rotation's "
        "fairness (docs/insights.md#hours-on-call-and-fairness)"
    )


def load_out(f: Filters, load: Load) -> dict[str, Any]:
    return {"filters": f.as_dict(), **load.as_dict()}
