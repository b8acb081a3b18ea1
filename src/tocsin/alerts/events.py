"""What happens to an alert, as domain events (`tocsin.bus`), emitted by `apply.Applier` as it
applies the events senders send."""

from __future__ import annotations

from dataclasses import dataclass

from tocsin.bus import Event


@dataclass(frozen=True)
class AlertOpened(Event):
    """A new alert, on the incident it opened or (`joined`) the open one it was grouped into."""

    alert_id: int
    integration_id: int
    service_id: int
    incident_id: int
    dedup_key: str
    severity: str
    summary: str
    joined: bool


@dataclass(frozen=True)
class AlertResolved(Event):
    """The sender resolved the alert (or a heartbeat came back). Its incident, if all of its
    alerts are resolved, is resolved after this, with its own `IncidentStatusChanged`."""

    alert_id: int
    service_id: int
    incident_id: int | None
