"""Settings pages for teams, users and services, and a service's own page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from tocsin.catalog import membership, permissions
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team, TeamRole, User, UserRole
from tocsin.deps import Admin, CurrentUser, DbSession, Responder
from tocsin.errors import ValidationFailed
from tocsin.web import cards
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, int_list, optional_int, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


def _lists(db: DbSession) -> dict[str, object]:
    return {
        "teams": db.scalars(select(Team).order_by(Team.name)).all(),
        "users": db.scalars(
            select(User).where(User.is_person).order_by(User.active.desc(), User.name)
        ).all(),
        "services": db.scalars(select(Service).order_by(Service.name)).all(),
        "roles": [r.value for r in UserRole],
    }


@router.get("/settings")
def settings_index(request: Request, user: CurrentUser) -> Response:
    return render(request, "settings/index.html", {"section": ""})


@router.get("/settings/teams")
def teams_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    context = {**_lists(db), "section": "teams", "scope": permissions.scope(db, user)}
    return render(request, "settings/teams.html", context)


def _team_back(team_id: int) -> str:
    return f"/settings/teams/{team_id}"


@router.get("/settings/teams/{team_id}")
def team_page(team_id: int, request: Request, db: DbSession, user: CurrentUser) -> Response:
    """A team's members with their team roles; its admins and org admins change them."""
    team = catalog.get_team(db, team_id)
    members = membership.members(db, team)
    inside = {u.id for u, _ in members}
    context = {
        "section": "teams",
        "team": team,
        "members": members,
        "others": [
            u
            for u in db.scalars(select(User).where(User.active.is_(True)).order_by(User.name))
            if u.id not in inside
        ],
        "team_roles": [r.value for r in TeamRole],
        "may_manage": permissions.scope(db, user).may_manage(team.id),
    }
    return render(request, "settings/team.html", context)


@router.post("/settings/teams/{team_id}/members")
def set_team_member(team_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    """Add someone to the team, or change a member's team role."""
    team = catalog.get_team(db, team_id)

    def action() -> None:
        member_id = optional_int(form, "user_id")
        if member_id is None:
            raise ValidationFailed("user_id: pick a person", field="user_id")
        member = catalog.get_user(db, member_id)
        role = text(form, "role")
        membership.set_member(db, team, member, role, by=user)

    return perform(db, _team_back(team_id), action, notice="Team member saved.")


@router.post("/settings/teams/{team_id}/members/{user_id}/remove")
def remove_team_member(team_id: int, user_id: int, db: DbSession, user: Responder) -> Response:
    team = catalog.get_team(db, team_id)

    def action() -> None:
        member = catalog.get_user(db, user_id)
        membership.remove_member(db, team, member, by=user)

    return perform(db, _team_back(team_id), action, notice="Removed from the team.")


@router.post("/settings/teams")
def create_team(db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/teams",
        lambda: catalog.create_team(
            db,
            name=text(form, "name"),
            description=text(form, "description"),
            member_ids=int_list(form, "member_ids"),
        ),
        notice="Team created.",
    )


@router.post("/settings/teams/{team_id}")
def update_team(team_id: int, db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/teams",
        lambda: catalog.update_team(
            db,
            catalog.get_team(db, team_id),
            {
                "name": text(form, "name"),
                "description": text(form, "description"),
                "member_ids": int_list(form, "member_ids"),
            },
        ),
        notice="Team saved.",
    )


@router.post("/settings/teams/{team_id}/delete")
def delete_team(team_id: int, db: DbSession, admin: Admin) -> Response:
    return perform(
        db,
        "/settings/teams",
        lambda: catalog.delete_team(db, catalog.get_team(db, team_id)),
        notice="Team deleted.",
    )


@router.get("/settings/users")
def users_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return render(request, "settings/users.html", {**_lists(db), "section": "users"})


@router.post("/settings/users")
def create_user(db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/users",
        lambda: catalog.create_user(
            db,
            name=text(form, "name"),
            email=text(form, "email"),
            role=text(form, "role"),
            timezone=text(form, "timezone") or "UTC",
            password=text(form, "password") or None,
            team_ids=int_list(form, "team_ids"),
        ),
        notice="User created.",
    )


@router.post("/settings/users/{user_id}")
def update_user(user_id: int, db: DbSession, admin: Admin, form: Form) -> Response:
    changes: dict[str, object] = {
        "name": text(form, "name"),
        "email": text(form, "email"),
        "role": text(form, "role"),
        "timezone": text(form, "timezone"),
        "active": checkbox(form, "active"),
        "team_ids": int_list(form, "team_ids"),
    }
    if text(form, "password"):
        changes["password"] = text(form, "password")
    return perform(
        db,
        "/settings/users",
        lambda: catalog.update_user(db, catalog.get_user(db, user_id), changes),
        notice="User saved.",
    )


@router.get("/settings/services")
def services_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    context = {**_lists(db), "section": "services", "scope": permissions.scope(db, user)}
    return render(request, "settings/services.html", context)


@router.get("/services/{service_id}")
def service_page(service_id: int, request: Request, db: DbSession, user: CurrentUser) -> Response:
    service = catalog.get_service(db, service_id)
    # The Followers card is communication's (tocsin.wiring).
    context = {"service": service, **cards.for_page(request, cards.SERVICE, db, service)}
    return render(request, "catalog/service.html", context)


@router.post("/settings/services")
def create_service(db: DbSession, user: Responder, form: Form) -> Response:
    return perform(
        db,
        "/settings/services",
        lambda: catalog.create_service(
            db,
            name=text(form, "name"),
            description=text(form, "description"),
            team_id=optional_int(form, "team_id"),
            tier=optional_int(form, "tier") or 2,
            by=user,
        ),
        notice="Service created.",
    )


@router.post("/settings/services/{service_id}")
def update_service(service_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    return perform(
        db,
        "/settings/services",
        lambda: catalog.update_service(
            db,
            catalog.get_service(db, service_id),
            {
                "name": text(form, "name"),
                "description": text(form, "description"),
                "team_id": optional_int(form, "team_id"),
                "tier": optional_int(form, "tier") or 2,
            },
            by=user,
        ),
        notice="Service saved.",
    )


@router.post("/settings/services/{service_id}/delete")
def delete_service(service_id: int, db: DbSession, user: Responder) -> Response:
    return perform(
        db,
        "/settings/services",
        lambda: catalog.delete_service(db, catalog.get_service(db, service_id), by=user),
        notice="Service deleted.",
    )
