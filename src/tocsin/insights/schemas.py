"""JSON shapes shared by the Insights API routes, and the KPIs tab's."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


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
