"""JSON routes for the roster, assigning a role from it, and paging the IC.

Everyone logged in reads the roster; admins edit it; responders page and assign."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tocsin.catalog.schemas import Aware, UserRef
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import NotFound
from tocsin.incidents import queries
from tocsin.incidents.schemas import RoleChangeOut, incident_out
from tocsin.roster import paging, service
from tocsin.roster.schemas import IcPageOut, RosterEntryIn, RosterEntryOut, RosterOut, entry_out

router = APIRouter(prefix="/api/v1", tags=["roster"])

RoleSlug = Annotated[str, Path(max_length=64, description="e.g. incident_commander")]
Ref = Annotated[str, Path(max_length=40, description="INC-42 or 42")]
At = Annotated[Aware | None, Query(description="Who is on call at this time (default now)")]


@router.get("/roster", response_model=RosterOut)
def roster(db: DbSession, user: CurrentUser, at: At = None) -> RosterOut:
    """Each role's primary and backup, and who they are at `at` (now by default)."""
    return RosterOut(items=[entry_out(e, service.resolve(db, e, at)) for e in service.entries(db)])


@router.get("/roster/{role_slug}", response_model=RosterEntryOut)
def roster_entry(
    role_slug: RoleSlug, db: DbSession, user: CurrentUser, at: At = None
) -> RosterEntryOut:
    """One role's primary and backup; 404 when the role has no roster entry."""
    role = queries.role_by_slug(db, role_slug)
    entry = service.entry_for(db, role.id)
    if entry is None:
        raise NotFound(f"{role.name} has no roster entry")
    return entry_out(entry, service.resolve(db, entry, at))


@router.put("/roster/{role_slug}", response_model=RosterEntryOut)
def set_roster_entry(
    role_slug: RoleSlug, body: RosterEntryIn, db: DbSession, admin: Admin
) -> RosterEntryOut:
    """Set a role's primary and backup (each a person, a schedule, or nobody)."""
    role = queries.role_by_slug(db, role_slug)
    entry = service.set_entry(db, role.id, **body.slots())
    return entry_out(entry, service.resolve(db, entry))


@router.delete("/roster/{role_slug}", status_code=204, response_class=Response)
def clear_roster_entry(role_slug: RoleSlug, db: DbSession, admin: Admin) -> Response:
    """Take a role off the roster."""
    service.clear_entry(db, queries.role_by_slug(db, role_slug).id)
    return Response(status_code=204)


@router.post("/incidents/{ref}/roles/{role_slug}/from-roster", response_model=RoleChangeOut)
def assign_from_roster(
    ref: Ref, role_slug: RoleSlug, db: DbSession, user: Responder, settings: AppSettings
) -> RoleChangeOut:
    """Give the role to its roster's primary now (the backup when the primary names nobody);
    422 when the roster names nobody."""
    incident = queries.get_incident(db, ref, viewer=user)
    role = queries.role_by_slug(db, role_slug)
    change = service.assign_from_roster(db, incident, role_id=role.id, by=user)
    return RoleChangeOut(
        incident=incident_out(incident, settings.base_url), warnings=list(change.warnings)
    )


@router.post("/incidents/{ref}/page-ic", response_model=IcPageOut)
def page_the_ic(ref: Ref, db: DbSession, user: Responder) -> IcPageOut:
    """Page the incident commander's primary and backup from the roster at once; 409 when
    the roster names nobody to page."""
    incident = queries.get_incident(db, ref, viewer=user)
    page = paging.page_the_ic(db, incident, by=user)
    return IcPageOut(
        paged=[UserRef.model_validate(p) for p in page.paged],
        roster=entry_out(page.entry, page.answerers),
    )
