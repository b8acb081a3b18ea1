"""What happens to paging, as domain events (`tocsin.bus`)."""

from __future__ import annotations

from dataclasses import dataclass

from tocsin.bus import Event


@dataclass(frozen=True)
class PageAcknowledged(Event):
    """Someone acknowledged the paging of an incident: these runs stopped and the
    notifications they still had planned were cancelled. `by_id` None: the incident was
    acknowledged by an integration (an alert's sender)."""

    incident_id: int
    run_ids: tuple[int, ...]
    by_id: int | None
