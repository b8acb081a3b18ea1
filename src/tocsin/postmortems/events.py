"""What happens to a postmortem, as domain events (`tocsin.bus`).

Emitted by `postmortems.service` once the change is written and on the incident's timeline.
Reminders and review requests are queued by the service itself; `PostmortemPublished` is
answered in `tocsin.wiring.build_bus`, which emails the incident's stakeholders (a comms fact
postmortems may not import).
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


@dataclass(frozen=True)
class PostmortemReviewerAdded(Event):
    postmortem_id: int
    incident_id: int
    reviewer_id: int
    by_id: int | None


@dataclass(frozen=True)
class PostmortemReviewed(Event):
    """A reviewer gave their verdict: `approved` or `changes_requested`."""

    postmortem_id: int
    incident_id: int
    verdict: str
    by_id: int


@dataclass(frozen=True)
class PostmortemPublished(Event):
    """A reviewed postmortem was published: the composition root has its incident's
    stakeholders emailed (`publishing.tell_stakeholders`)."""

    postmortem_id: int
    incident_id: int
    by_id: int | None
