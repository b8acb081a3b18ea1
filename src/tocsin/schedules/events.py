"""What happens to a schedule, as domain events (`tocsin.bus`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tocsin.bus import Event
from tocsin.schedules.oncall import Shift


@dataclass(frozen=True)
class ScheduleChanged(Event):
    """A layer, an override or an imported calendar of a schedule changed, or the schedule
    was deleted (`deleted`). `before` and `after` are its final shifts (who is on call)
    over [`since`, `until`), the next `changes.HORIZON`, around the change."""

    schedule_id: int
    name: str
    cause: str  # for people: "layer “Weekly” changed", "override by Ann", …
    since: datetime
    until: datetime
    before: tuple[Shift, ...]
    after: tuple[Shift, ...]
    deleted: bool = False
