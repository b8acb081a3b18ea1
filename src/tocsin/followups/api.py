"""REST API of the follow-up list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tocsin.catalog.schemas import page
from tocsin.db import utcnow
from tocsin.deps import CurrentUser, DbSession
from tocsin.followups import queries
from tocsin.followups.schemas import FollowUpPage, follow_up_out

router = APIRouter(prefix="/api/v1", tags=["follow-ups"])

Id = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


@router.get("/follow-ups", response_model=FollowUpPage)
def list_follow_ups(
    db: DbSession,
    user: CurrentUser,
    team: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A team id")] = None,
    service: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A service id")] = None,
    status: Annotated[
        queries.StatusFilter,
        Query(description="unfinished (open or in progress, the default), one status, or any"),
    ] = "unfinished",
    assignee: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A user id")] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    overdue: Annotated[bool, Query(description="Only unfinished items past due")] = False,
    sort: Annotated[
        queries.Sort, Query(description="due: soonest due first; age: oldest first; newest")
    ] = "due",
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")] = 200,
    offset: Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")] = 0,
) -> dict[str, Any]:
    """Follow-ups across the incidents you may see, with their age and how overdue they are."""
    today = utcnow().date()
    rows, total = queries.follow_ups(
        db,
        viewer=user,
        team_id=team,
        service_id=service,
        status=status,
        assignee_id=assignee,
        tag=tag,
        overdue_on=today if overdue else None,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    postmortems = queries.postmortems_of(db, {i.incident_id for i in rows})
    items = [follow_up_out(i, today, postmortems.get(i.incident_id)) for i in rows]
    return page(items, total, limit, offset)
