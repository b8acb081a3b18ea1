"""What happens to a postmortem, as domain events (`tocsin.bus`).

Emitted by `postmortems.service` once the change is written and on the incident's timeline.
Nothing reacts yet (reminders are queued by the service itself when deadlines are set);
publishing will subscribe in `tocsin.wiring.build_bus`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tocsin.bus import Event


@dataclass(frozen=True)
class PostmortemStarted(Event):
    """A postmortem was created: by its policy when the incident was resolved (`required`),
    or by a person."""

    postmortem_id: int
    incident_id: int
    owner_id: int | None
    required: bool
    by_id: int | None


@dataclass(frozen=True)
class PostmortemOwnerChanged(Event):
    postmortem_id: int
    incident_id: int
    old_id: int | None
    new_id: int | None
    by_id: int | None


@dataclass(frozen=True)
class PostmortemStatusChanged(Event):
    """Draft → in review → reviewed → closed (and in review back to draft)."""

    postmortem_id: int
    incident_id: int
    old: str
    new: str
    by_id: int | None


@dataclass(frozen=True)
class PostmortemSectionSaved(Event):
    postmortem_id: int
    incident_id: int
    key: str
    version: int
    by_id: int | None
