"""API shapes of the learning-health figures (GET /api/v1/insights/learning)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tocsin.insights.filters import Filters
from tocsin.insights.learning import Learning


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class FiltersOut(BaseModel):
    period: str = Field(description="week, month, quarter or range")
    label: str
    start: datetime
    end: datetime = Field(description="Excluded; now for a period that has not ended")
    timezone: str = Field(description="The organisation's time zone the period is read in")
    team: int | None
    service: int | None
    severity: str | None
    type: str | None


class AttainmentOut(_Out):
    id: int | None = Field(description="The severity's or team's id; null for all or no team")
    name: str
    required: int = Field(description="Incidents whose severity's policy requires a postmortem")
    on_time: int = Field(description="Reviewed no later than the review deadline")
    late: int = Field(description="Reviewed after the deadline, or not and the deadline passed")
    missing: int = Field(description="Resolved with no postmortem")
    not_due: int = Field(description="Not resolved yet, or the review deadline is ahead")
    due: int = Field(description="on_time + late + missing")
    share: float | None = Field(description="on_time ÷ due (0–1); null when none is due")


class GapOut(_Out):
    incident_id: int
    reference: str
    title: str
    severity: str
    problem: str = Field(description="late or missing")
    postmortem_id: int | None
    postmortem_status: str | None
    due_at: datetime | None = Field(description="The review deadline")
    reviewed_at: datetime | None = Field(description="When it first moved to Reviewed")


class DurationsOut(_Out):
    count: int
    median: float | None = Field(description="Seconds")
    p90: float | None = Field(description="Seconds, nearest rank")
    mean: float | None = Field(description="Seconds")


class FollowUpsOut(_Out):
    id: int | None = Field(description="The team's id; null for all or no team")
    name: str
    created: int
    done: int
    wont_do: int
    open: int = Field(description="Open or in progress")
    overdue: int = Field(description="Unfinished and due before today")
    age_median_days: float | None = Field(description="Of the open ones, days since created")
    age_p90_days: float | None
    oldest_days: int | None


class OverdueFollowUpOut(_Out):
    id: int
    title: str
    incident_id: int
    reference: str
    assignee: str | None
    due_date: date
    days_overdue: int
    age_days: int


class LearningOut(_Out):
    filters: FiltersOut
    required_severities: list[str] = Field(
        description="The severities whose policy requires a postmortem"
    )
    attainment: AttainmentOut
    by_severity: list[AttainmentOut]
    by_team: list[AttainmentOut]
    gaps: list[GapOut] = Field(
        description="Late or missing postmortems you may see, most recently detected first"
    )
    gaps_hidden: int = Field(description="Late or missing ones of restricted incidents, unlisted")
    postmortem_statuses: dict[str, int]
    resolved_to_published: DurationsOut
    follow_ups: FollowUpsOut
    follow_ups_by_team: list[FollowUpsOut]
    oldest_overdue: list[OverdueFollowUpOut] = Field(description="Most overdue first")
    overdue_hidden: int = Field(description="Overdue ones of restricted incidents, unlisted")


def learning_out(figures: Learning, f: Filters) -> LearningOut:
    data: dict[str, Any] = {name: getattr(figures, name) for name in Learning.__dataclass_fields__}
    return LearningOut.model_validate({**data, "filters": FiltersOut.model_validate(f.as_dict())})
