"""JSON shapes shared by the Insights API routes, and the KPIs tab's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel

# The filters every /api/v1/insights route takes (insights.filters parses them).
Period = Annotated[str | None, Query(description="week, month or quarter (the default)")]
Day = Annotated[
    str | None,
    Query(alias="date", description="Any day of the period, YYYY-MM-DD (default: today)"),
]
RangeFrom = Annotated[
    str | None,
    Query(alias="from", description="A range's first day, YYYY-MM-DD (instead of a period)"),
]
RangeTo = Annotated[str | None, Query(alias="to", description="A range's last day, YYYY-MM-DD")]
TeamRef = Annotated[str | None, Query(description="A team's id or name")]
ServiceRef = Annotated[str | None, Query(description="A service's id or name")]
SeverityRef = Annotated[str | None, Query(description="A severity's id or name (SEV1)")]
TypeRef = Annotated[str | None, Query(description="An incident type's id or name")]


class FiltersOut(BaseModel):
    period: str
    label: str
    start: datetime
    end: datetime
    timezone: str
    team: int | None
    service: int | None
    severity: str | None
    type: str | None
    previous_start: datetime | None
    previous_end: datetime | None


class SummaryOut(BaseModel):
    """Seconds."""

    count: int
    median: float | None
    p90: float | None
    mean: float | None


class AttainmentOut(BaseModel):
    met: int
    missed: int
    pending: int
    share: float | None


class GroupOut(BaseModel):
    key: str
    label: str
    start: str | None = None
    volume: int
    mttd: SummaryOut
    mtta: SummaryOut
    mttr: SummaryOut
    attainment: AttainmentOut


class ChangesOut(BaseModel):
    """Relative change against the previous period (0.25 is +25%); attainment in points."""

    volume: float | None
    mttd: float | None
    mtta: float | None
    mttr: float | None
    attainment: float | None


class KpisOut(BaseModel):
    filters: FiltersOut
    total: GroupOut
    previous: GroupOut
    changes: ChangesOut
    by_severity: list[GroupOut]
    by_service: list[GroupOut]
    by_team: list[GroupOut]
    by_type: list[GroupOut]
    bucket: str
    over_time: list[GroupOut]


class IncidentFiguresOut(BaseModel):
    """One incident behind a figure (seconds)."""

    number: int
    reference: str
    title: str
    url: str
    detected_at: datetime
    time_to_detect: float | None
    time_to_acknowledge: float | None
    time_to_resolve: float | None
    response_due_at: datetime | None
    response_target: str


class IncidentsBehindOut(BaseModel):
    filters: FiltersOut
    metric: str
    total: int
    hidden: int  # restricted incidents counted but not listed for this reader
    items: list[IncidentFiguresOut]
