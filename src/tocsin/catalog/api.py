"""JSON routes for you, users, teams and services: everyone reads, admins write."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tocsin.catalog import membership
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import (
    Page,
    ServiceIn,
    ServiceOut,
    ServicePatch,
    TeamIn,
    TeamMemberIn,
    TeamMemberOut,
    TeamOut,
    TeamPatch,
    UserIn,
    UserOut,
    UserPatch,
    page,
    service_out,
    team_member_out,
    team_out,
    user_out,
)
from tocsin.deps import Admin, CurrentUser, DbSession, Responder
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["catalog"])

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1–500)")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip")]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]
TeamId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ServiceId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """The user the request is authenticated as."""
    return user_out(user)


# --- users ------------------------------------------------------------------------------


@router.get("/users", response_model=Page[UserOut])
def list_users(db: DbSession, user: CurrentUser, limit: Limit = 50, offset: Offset = 0) -> dict:
    rows, total = catalog.list_users(db, limit=limit, offset=offset)
    return page([user_out(u) for u in rows], total, limit, offset)


@router.post("/users", status_code=201, response_model=UserOut, responses=errors(404))
def create_user(body: UserIn, db: DbSession, admin: Admin) -> UserOut:
    """Add a user; without a password they cannot log in to the UI until one is set."""
    return user_out(catalog.create_user(db, **body.model_dump()))


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: UserId, db: DbSession, user: CurrentUser) -> UserOut:
    return user_out(catalog.get_user(db, user_id))


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: UserId, body: UserPatch, db: DbSession, admin: Admin) -> UserOut:
    """Change any of name, email, role, timezone, password, active, team_ids."""
    target = catalog.get_user(db, user_id)
    return user_out(catalog.update_user(db, target, body.model_dump(exclude_unset=True)))


# --- teams ------------------------------------------------------------------------------


@router.get("/teams", response_model=Page[TeamOut])
def list_teams(db: DbSession, user: CurrentUser, limit: Limit = 50, offset: Offset = 0) -> dict:
    rows, total = catalog.list_teams(db, limit=limit, offset=offset)
    return page([team_out(t) for t in rows], total, limit, offset)


@router.post("/teams", status_code=201, response_model=TeamOut, responses=errors(404))
def create_team(body: TeamIn, db: DbSession, admin: Admin) -> TeamOut:
    return team_out(catalog.create_team(db, **body.model_dump()))


@router.get("/teams/{team_id}", response_model=TeamOut)
def get_team(team_id: TeamId, db: DbSession, user: CurrentUser) -> TeamOut:
    return team_out(catalog.get_team(db, team_id))


@router.patch("/teams/{team_id}", response_model=TeamOut)
def update_team(team_id: TeamId, body: TeamPatch, db: DbSession, admin: Admin) -> TeamOut:
    team = catalog.get_team(db, team_id)
    return team_out(catalog.update_team(db, team, body.model_dump(exclude_unset=True)))


@router.delete("/teams/{team_id}", status_code=204, response_class=Response)
def delete_team(team_id: TeamId, db: DbSession, admin: Admin) -> Response:
    catalog.delete_team(db, catalog.get_team(db, team_id))
    return Response(status_code=204)


@router.get("/teams/{team_id}/members", response_model=list[TeamMemberOut])
def team_members(team_id: TeamId, db: DbSession, user: CurrentUser) -> list[TeamMemberOut]:
    """The team's members, each with their team role."""
    team = catalog.get_team(db, team_id)
    return [team_member_out(u, role) for u, role in membership.members(db, team)]


@router.put(
    "/teams/{team_id}/members/{user_id}", response_model=TeamMemberOut, responses=errors(404)
)
def set_team_member(
    team_id: TeamId,
    user_id: UserId,
    body: TeamMemberIn,
    db: DbSession,
    user: Responder,
) -> TeamMemberOut:
    """Add a member or change their team role (admin, responder, viewer): by the team's
    admins and org admins. Recorded in the audit trail (`permission.changed`), refusals too."""
    team = catalog.get_team(db, team_id)
    member = catalog.get_user(db, user_id)
    membership.set_member(db, team, member, body.role, by=user)
    return team_member_out(member, body.role)


@router.delete("/teams/{team_id}/members/{user_id}", status_code=204, response_class=Response)
def remove_team_member(
    team_id: TeamId, user_id: UserId, db: DbSession, user: Responder
) -> Response:
    """Take someone out of the team: by the team's admins and org admins."""
    team = catalog.get_team(db, team_id)
    member = catalog.get_user(db, user_id)
    membership.remove_member(db, team, member, by=user)
    return Response(status_code=204)


# --- services ---------------------------------------------------------------------------


@router.get("/services", response_model=Page[ServiceOut])
def list_services(db: DbSession, user: CurrentUser, limit: Limit = 50, offset: Offset = 0) -> dict:
    rows, total = catalog.list_services(db, limit=limit, offset=offset)
    return page([service_out(s) for s in rows], total, limit, offset)


@router.post("/services", status_code=201, response_model=ServiceOut, responses=errors(404))
def create_service(body: ServiceIn, db: DbSession, user: Responder) -> ServiceOut:
    """Add a service; in a team, by its responders and admins (or org admins)."""
    return service_out(catalog.create_service(db, **body.model_dump(), by=user))


@router.get("/services/{service_id}", response_model=ServiceOut)
def get_service(service_id: ServiceId, db: DbSession, user: CurrentUser) -> ServiceOut:
    return service_out(catalog.get_service(db, service_id))


@router.patch("/services/{service_id}", response_model=ServiceOut)
def update_service(
    service_id: ServiceId, body: ServicePatch, db: DbSession, user: Responder
) -> ServiceOut:
    svc = catalog.get_service(db, service_id)
    changes = body.model_dump(exclude_unset=True)
    return service_out(catalog.update_service(db, svc, changes, by=user))


@router.delete("/services/{service_id}", status_code=204, response_class=Response)
def delete_service(service_id: ServiceId, db: DbSession, user: Responder) -> Response:
    catalog.delete_service(db, catalog.get_service(db, service_id), by=user)
    return Response(status_code=204)
