"""SCIM Groups: catalog's teams as RFC 7643 resources; members are users. Changed through
catalog's service functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from tocsin.audit.trail import record
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Team, User
from tocsin.db import utcnow
from tocsin.errors import Conflict, ValidationFailed
from tocsin.scim.errors import ScimError
from tocsin.scim.filters import Compare, Filter, matches
from tocsin.scim.models import ScimGroup
from tocsin.scim.resources import Page, meta, versioned
from tocsin.scim.schema import GROUP, GROUP_SCHEMA, validate


def get_group(session: Session, group_id: str) -> tuple[Team, ScimGroup | None]:
    team = session.get(Team, int(group_id)) if group_id.isdigit() and len(group_id) < 10 else None
    if team is None:
        raise ScimError(404, None, f"no group with id {group_id!r}")
    return team, session.get(ScimGroup, team.id)


def render(
    team: Team, link: ScimGroup | None, base: str, *, members: bool = True
) -> dict[str, Any]:
    resource: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "id": str(team.id)}
    if link is not None and link.external_id:
        resource["externalId"] = link.external_id
    resource["displayName"] = team.name
    if members:
        resource["members"] = [
            {"value": str(u.id), "display": u.name, "type": "User", "$ref": f"{base}/Users/{u.id}"}
            for u in sorted(team.members, key=lambda u: u.id)
        ]
    created = link.created_at if link is not None else team.created_at
    modified = link.updated_at if link is not None else team.created_at
    resource["meta"] = meta("Group", created, modified, f"{base}/Groups/{team.id}")
    return versioned(resource)


def list_groups(
    session: Session,
    base: str,
    where: Filter | None,
    start: int,
    count: int,
    *,
    members: bool = True,
) -> Page:
    query = select(Team).options(selectinload(Team.members)).order_by(Team.id)
    if isinstance(where, Compare) and where.op == "eq" and isinstance(where.value, str):
        if where.path.attr.lower() == "displayname":
            query = query.where(func.lower(Team.name) == where.value.lower())
        elif where.path.attr.lower() == "externalid":
            query = query.join(ScimGroup, ScimGroup.team_id == Team.id).where(
                ScimGroup.external_id == where.value
            )
    links = {link.team_id: link for link in session.scalars(select(ScimGroup))}
    found = []
    for team in session.scalars(query):
        resource = render(team, links.get(team.id), base, members=True)
        if where is None or matches(where, resource):
            if not members:
                resource.pop("members", None)
            found.append(resource)
    return Page(found, start, count)


def _member_ids(session: Session, doc: Mapping[str, Any]) -> list[int]:
    ids: list[int] = []
    for member in doc.get("members") or []:
        value = member.get("value")
        kind = str(member.get("type") or "User")
        if kind.lower() != "user":
            raise ScimError(
                400, "invalidValue", "members must be users: Tocsin has no nested teams"
            )
        if not isinstance(value, str) or not value.isdigit() or len(value) >= 10:
            raise ScimError(400, "invalidValue", f"members: no user with id {value!r}")
        if session.get(User, int(value)) is None:
            raise ScimError(400, "invalidValue", f"members: no user with id {value!r}")
        ids.append(int(value))
    return list(dict.fromkeys(ids))


def _name(session: Session, doc: Mapping[str, Any], team: Team | None) -> str:
    name = str(doc["displayName"]).strip()
    other = session.scalar(select(Team).where(func.lower(Team.name) == name.lower()))
    if other is not None and other is not team:
        raise ScimError(409, "uniqueness", f"another team is already named {name!r}")
    return name


def _catalog(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except ValidationFailed as exc:
        raise ScimError(400, "invalidValue", exc.message) from exc
    except Conflict as exc:
        raise ScimError(409, "uniqueness", exc.message) from exc


def create_group(session: Session, body: Any) -> tuple[Team, ScimGroup]:
    """A team from a SCIM Group body, with its members."""
    doc = validate(GROUP, body)
    name = _name(session, doc, None)
    members = _member_ids(session, doc)
    team = _catalog(lambda: catalog.create_team(session, name=name, member_ids=members))
    link = ScimGroup(
        team_id=team.id,
        external_id=doc.get("externalId"),
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(link)
    session.flush()
    record(
        session,
        "scim.group_created",
        target_type="team",
        target_id=team.id,
        target=team.name,
        detail={"name": team.name, "external_id": link.external_id, "members": members},
    )
    return team, link


def replace_group(session: Session, team: Team, link: ScimGroup | None, body: Any) -> ScimGroup:
    """A PUT (or a PATCH's result): the team's name, external id and members."""
    doc = validate(GROUP, body)
    name = _name(session, doc, team)
    members = _member_ids(session, doc)
    before_name = team.name
    before_members = [u.id for u in team.members]
    if link is None:
        link = ScimGroup(team_id=team.id, created_at=team.created_at)
        session.add(link)
    before_external = link.external_id
    changes: dict[str, Any] = {}
    if name != team.name:
        changes["name"] = name
    if set(members) != set(before_members):
        changes["member_ids"] = members
    if changes:
        _catalog(catalog.update_team, session, team, changes)
    link.external_id = doc.get("externalId")
    link.updated_at = utcnow()
    session.flush()
    detail: dict[str, Any] = {}
    if before_name != team.name:
        detail["name"] = {"old": before_name, "new": team.name}
    if before_external != link.external_id:
        detail["external_id"] = {"old": before_external, "new": link.external_id}
    added = sorted(set(members) - set(before_members))
    removed = sorted(set(before_members) - set(members))
    if added:
        detail["members_added"] = added
    if removed:
        detail["members_removed"] = removed
    if detail:
        record(
            session,
            "scim.group_updated",
            target_type="team",
            target_id=team.id,
            target=team.name,
            detail=detail,
        )
    return link


def delete_group(session: Session, team: Team) -> None:
    """A SCIM DELETE: the team goes (its people stay)."""
    name, team_id = team.name, team.id
    detail = {"name": name, "members": [u.id for u in team.members]}
    catalog.delete_team(session, team)
    record(
        session,
        "scim.group_deleted",
        target_type="team",
        target_id=team_id,
        target=name,
        detail=detail,
    )
