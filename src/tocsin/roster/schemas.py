"""API shapes for the roster and paging the incident commander."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tocsin.catalog.schemas import Id, Ref, Strict, UserRef, user_ref
from tocsin.definitions.schemas import RoleRef
from tocsin.roster.models import RosterEntry
from tocsin.roster.service import Answerer


class PersonSlot(Strict):
    user_id: Id = Field(description="This person")


class ScheduleSlot(Strict):
    schedule_id: Id = Field(description="Whoever is on call for this schedule at the time")


class RosterEntryIn(Strict):
    """Each slot is a person, a schedule, or nobody (null or left out)."""

    primary: PersonSlot | ScheduleSlot | None = None
    backup: PersonSlot | ScheduleSlot | None = None

    def slots(self) -> dict[str, int | None]:
        """As `service.set_entry` takes them."""
        out: dict[str, int | None] = {}
        for name in ("primary", "backup"):
            slot = getattr(self, name)
            out[f"{name}_user_id"] = slot.user_id if isinstance(slot, PersonSlot) else None
            out[f"{name}_schedule_id"] = (
                slot.schedule_id if isinstance(slot, ScheduleSlot) else None
            )
        return out


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
