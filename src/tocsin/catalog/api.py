"""JSON routes for teams, users and services."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from sqlalchemy import func, select

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team, User
from tocsin.catalog.schemas import (
    ServiceIn,
    ServicePatch,
    TeamIn,
    TeamPatch,
    UserIn,
    UserPatch,
    page,
    service_out,
    team_out,
    user_out,
)
from tocsin.deps import Admin, CurrentUser, DbSession

router = APIRouter(prefix="/api/v1", tags=["catalog"])
Limit = Query(50, ge=1, le=500)
Offset = Query(0, ge=0)


def _list(
    db: DbSession, model: type[Any], order: Any, limit: int, offset: int
) -> tuple[list[Any], int]:
    total = db.scalar(select(func.count()).select_from(model)) or 0
    rows = list(db.scalars(select(model).order_by(order).limit(limit).offset(offset)))
    return rows, total


@router.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    return user_out(user)


@router.get("/users")
def list_users(
    db: DbSession, user: CurrentUser, limit: int = Limit, offset: int = Offset
) -> dict[str, Any]:
    rows, total = _list(db, User, User.name, limit, offset)
    return page([user_out(u) for u in rows], total, limit, offset)


@router.post("/users", status_code=201)
def create_user(body: UserIn, db: DbSession, admin: Admin) -> dict[str, Any]:
    return user_out(catalog.create_user(db, **body.model_dump()))


@router.get("/users/{user_id}")
def get_user(user_id: int, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    return user_out(catalog.get_user(db, user_id))


@router.patch("/users/{user_id}")
def update_user(user_id: int, body: UserPatch, db: DbSession, admin: Admin) -> dict[str, Any]:
    target = catalog.get_user(db, user_id)
    return user_out(catalog.update_user(db, target, body.model_dump(exclude_unset=True)))


@router.get("/teams")
def list_teams(
    db: DbSession, user: CurrentUser, limit: int = Limit, offset: int = Offset
) -> dict[str, Any]:
    rows, total = _list(db, Team, Team.name, limit, offset)
    return page([team_out(t) for t in rows], total, limit, offset)


@router.post("/teams", status_code=201)
def create_team(body: TeamIn, db: DbSession, admin: Admin) -> dict[str, Any]:
    return team_out(catalog.create_team(db, **body.model_dump()))


@router.get("/teams/{team_id}")
def get_team(team_id: int, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    return team_out(catalog.get_team(db, team_id))


@router.patch("/teams/{team_id}")
def update_team(team_id: int, body: TeamPatch, db: DbSession, admin: Admin) -> dict[str, Any]:
    team = catalog.get_team(db, team_id)
    return team_out(catalog.update_team(db, team, body.model_dump(exclude_unset=True)))


@router.delete("/teams/{team_id}", status_code=204)
def delete_team(team_id: int, db: DbSession, admin: Admin) -> Response:
    catalog.delete_team(db, catalog.get_team(db, team_id))
    return Response(status_code=204)


@router.get("/services")
def list_services(
    db: DbSession, user: CurrentUser, limit: int = Limit, offset: int = Offset
) -> dict[str, Any]:
    rows, total = _list(db, Service, Service.name, limit, offset)
    return page([service_out(s) for s in rows], total, limit, offset)


@router.post("/services", status_code=201)
def create_service(body: ServiceIn, db: DbSession, admin: Admin) -> dict[str, Any]:
    return service_out(catalog.create_service(db, **body.model_dump()))


@router.get("/services/{service_id}")
def get_service(service_id: int, db: DbSession, user: CurrentUser) -> dict[str, Any]:
    return service_out(catalog.get_service(db, service_id))


@router.patch("/services/{service_id}")
def update_service(
    service_id: int, body: ServicePatch, db: DbSession, admin: Admin
) -> dict[str, Any]:
    svc = catalog.get_service(db, service_id)
    return service_out(catalog.update_service(db, svc, body.model_dump(exclude_unset=True)))


@router.delete("/services/{service_id}", status_code=204)
def delete_service(service_id: int, db: DbSession, admin: Admin) -> Response:
    catalog.delete_service(db, catalog.get_service(db, service_id))
    return Response(status_code=204)
