"""API shapes of the alert noise figures (GET /api/v1/insights/noise)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from tocsin.insights.filters import Filters
from tocsin.insights.noise import Noise


class FiltersOut(BaseModel):
    period: str = Field(description="week, month, quarter or range")
    label: str
    start: datetime = Field(description="Included, UTC")
    end: datetime = Field(description="Excluded, UTC (now for the current period)")
    timezone: str = Field(description="The organisation's time zone the days are cut in")
    team: int | None
    service: int | None
    severity: str | None
    type: str | None


class SourceOut(BaseModel):
    integration_id: int
    integration: str
    service_id: int
    service: str
    alerts: int = Field(description="Alerts created in the period")
    events: int = Field(description="Events counted on those alerts (their event_count)")
    incidents_opened: int = Field(
        description="Incidents of the period (detected in it) whose first alert is its"
    )
    auto_resolved: int = Field(description="Resolved before anyone acknowledged them")
    auto_resolved_share: float = Field(description="auto_resolved / alerts, 0 to 1")


class DedupKeyOut(BaseModel):
    integration_id: int
    integration: str
    service: str
    dedup_key: str
    alerts: int
    events: int


class FlappingOut(BaseModel):
    integration_id: int
    integration: str
    service: str
    dedup_key: str
    flaps: int = Field(description="Alerts created within the window after the key's last resolve")


class BucketOut(BaseModel):
    first_day: date = Field(description="The day, or the Monday of the week")
    alerts: int


class PerIncidentOut(BaseModel):
    incidents_in_scope: int = Field(description="Incidents detected in the period, no drills")
    incidents_with_alerts: int
    median: float | None = Field(description="Alerts per incident with alerts")
    p90: float | None = Field(description="Nearest rank")
    mean: float | None
    max: int | None


class IncidentAlertsOut(BaseModel):
    incident_id: int
    reference: str
    title: str
    alerts: int


class RuleHitsOut(BaseModel):
    rule_id: int | None = Field(description="None: the rule was deleted since")
    rule: str
    service_id: int | None
    service: str
    dropped: int
    downgraded: int
    hits: int


class WindowHitsOut(BaseModel):
    window_id: int | None = Field(description="None: the window was deleted since")
    reason: str
    service_id: int | None
    service: str
    starts_at: datetime | None
    ends_at: datetime | None
    hits: int


class NoiseOut(BaseModel):
    filters: FiltersOut
    alerts: int
    events: int
    auto_resolved: int = Field(description="Alerts resolved before anyone acknowledged them")
    auto_resolved_share: float
    source_count: int = Field(description="Integrations with alerts in the period")
    sources: list[SourceOut] = Field(description="The 20 with the most alerts")
    keys: list[DedupKeyOut] = Field(description="The 20 dedup keys with the most alerts")
    window: int = Field(description="The flapping window, minutes")
    flaps: int
    flapping_keys: int
    flapping: list[FlappingOut] = Field(description="The 20 keys that flapped most")
    bucket: str = Field(description="day or week")
    volume: list[BucketOut]
    per_incident: PerIncidentOut
    top_incidents: list[IncidentAlertsOut] = Field(
        description="The 10 incidents with the most alerts, less the restricted ones you may "
        "not see"
    )
    hidden_incidents: int = Field(description="Restricted incidents of the top 10 not listed")
    rules: list[RuleHitsOut] = Field(description="Trigger events per suppression rule")
    windows: list[WindowHitsOut] = Field(description="Trigger events per maintenance window")


def noise_out(f: Filters, noise: Noise) -> NoiseOut:
    found = noise.as_dict()
    summary = found.pop("per_incident")
    return NoiseOut(
        filters=FiltersOut.model_validate(f.as_dict()),
        per_incident=PerIncidentOut(
            incidents_in_scope=found.pop("incidents_in_scope"),
            incidents_with_alerts=found.pop("incidents_with_alerts"),
            median=summary["median"],
            p90=summary["p90"],
            mean=summary["mean"],
            max=found.pop("per_incident_max"),
        ),
        **found,
    )
