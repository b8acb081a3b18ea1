"""API shapes for the roster and paging the incident commander."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tocsin.catalog.schemas import Id, Ref, Strict, UserRef, user_ref
from tocsin.definitions.schemas import RoleRef
from tocsin.roster.models import RosterEntry
from tocsin.roster.service import Answerer


class RosterEntryIn(Strict):
    """Each slot is a person (`*_user_id`), a schedule (`*_schedule_id`: whoever is on call
    for it), or nobody; not both."""

    primary_user_id: Id | None = None
    primary_schedule_id: Id | None = None
    backup_user_id: Id | None = None
    backup_schedule_id: Id | None = None


class SlotOut(BaseModel):
    user: UserRef | None = Field(description="The person set for the slot")
    schedule: Ref | None = Field(description="The schedule set for the slot")
    now: list[UserRef] = Field(description="Who the slot names at the time asked (or now)")
    text: str = Field(description="In words: 'Ada (on call for IC rotation)'")


class RosterEntryOut(BaseModel):
    role: RoleRef
    primary: SlotOut
    backup: SlotOut


class RosterOut(BaseModel):
    items: list[RosterEntryOut]


class IcPageOut(BaseModel):
    paged: list[UserRef]
    roster: RosterEntryOut


def _slot(entry: RosterEntry, answerer: Answerer) -> SlotOut:
    user = getattr(entry, f"{answerer.slot}_user")
    schedule = getattr(entry, f"{answerer.slot}_schedule")
    return SlotOut(
        user=user_ref(user),
        schedule=Ref.model_validate(schedule) if schedule is not None else None,
        now=[UserRef.model_validate(p) for p in answerer.people],
        text=answerer.text,
    )


def entry_out(entry: RosterEntry, answerers: list[Answerer]) -> RosterEntryOut:
    primary, backup = answerers
    return RosterEntryOut(
        role=RoleRef.model_validate(entry.role),
        primary=_slot(entry, primary),
        backup=_slot(entry, backup),
    )
