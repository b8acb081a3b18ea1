"""API shapes of the follow-up list."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from tocsin.catalog.schemas import Page
from tocsin.incidents.models import ActionItem
from tocsin.incidents.schemas import ActionItemOut, action_item_out


class ServiceRef(BaseModel):
    id: int
    name: str


class FollowUpOut(ActionItemOut):
    services: list[ServiceRef] = Field(description="The services of the item's incident")
    postmortem_id: int | None = Field(description="The postmortem of the item's incident")


FollowUpPage = Page[FollowUpOut]


def follow_up_out(item: ActionItem, today: date, postmortem_id: int | None) -> FollowUpOut:
    base = action_item_out(item, today)
    return FollowUpOut(
        **base.model_dump(),
        services=[ServiceRef(id=s.id, name=s.name) for s in item.incident.services],
        postmortem_id=postmortem_id,
    )
