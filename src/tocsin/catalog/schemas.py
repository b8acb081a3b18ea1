"""API shapes for teams, users and services."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tocsin.catalog.models import Service, Team, User


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(Strict):
    name: str = Field(max_length=120)
    email: str = Field(max_length=254)
    role: str = "responder"
    timezone: str = "UTC"
    password: str | None = Field(default=None, max_length=1024)
    team_ids: list[int] = []


class UserPatch(Strict):
    name: str | None = Field(default=None, max_length=120)
    email: str | None = Field(default=None, max_length=254)
    role: str | None = None
    timezone: str | None = None
    password: str | None = Field(default=None, max_length=1024)
    active: bool | None = None
    team_ids: list[int] | None = None


class TeamIn(Strict):
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=5000)
    member_ids: list[int] = []


class TeamPatch(Strict):
    name: str | None = Field(default=None, max_length=120)
    description: str | None = Field(default=None, max_length=5000)
    member_ids: list[int] | None = None


class ServiceIn(Strict):
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=5000)
    team_id: int | None = None
    tier: int = 2


class ServicePatch(Strict):
    name: str | None = Field(default=None, max_length=120)
    description: str | None = Field(default=None, max_length=5000)
    team_id: int | None = None
    tier: int | None = None


def user_ref(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.id, "name": user.name, "email": user.email}


def user_out(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "timezone": user.timezone,
        "active": user.active,
        "teams": [{"id": t.id, "name": t.name} for t in user.teams],
        "created_at": user.created_at,
    }


def team_out(team: Team) -> dict[str, Any]:
    return {
        "id": team.id,
        "name": team.name,
        "description": team.description,
        "members": [user_ref(u) for u in team.members],
        "services": [{"id": s.id, "name": s.name} for s in team.services],
    }


def service_out(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "name": service.name,
        "description": service.description,
        "tier": service.tier,
        "team": {"id": service.team.id, "name": service.team.name} if service.team else None,
    }


def page(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}
