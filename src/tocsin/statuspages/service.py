"""Actions on status pages, their component groups and components.

Every function validates, writes and queues the page's render in the caller's transaction
(`refresh.page_changed`); none commits. Publishing from incidents is in `publish.py`,
scheduled maintenance in `maintenance.py`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import Service, Team, User
from tocsin.db import utcnow
from tocsin.errors import Conflict, NotFound, UnknownReference, ValidationFailed
from tocsin.statuspages import access, look
from tocsin.statuspages.events import page_event
from tocsin.statuspages.models import (
    ChangeSource,
    Component,
    ComponentChange,
    ComponentGroup,
    ComponentStatus,
    PageIncidentUpdate,
    StatusPage,
    Visibility,
)
from tocsin.statuspages.refresh import page_changed

NAME_MAX = 120
TEXT_MAX = 5000
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
STATUSES = [s.value for s in ComponentStatus]
PAGE_FIELDS = {
    "name",
    "slug",
    "description",
    "visibility",
    "time_zone",
    "public_url",
    "brand_color",
    "accent_color",
    "owner_team_id",
    "owner_user_id",
    "allow_subscribers",
}
GROUP_FIELDS = {"name", "description", "position"}
COMPONENT_FIELDS = {
    "name",
    "description",
    "group_id",
    "service_id",
    "position",
    "showcase",
    "only_show_if_degraded",
    "start_date",
}


def _only(changes: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(
            f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0]
        )


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} must be true or false", field=field)
    return value


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:64].strip("-") or "status"


# Pages ------------------------------------------------------------------------------------


def list_pages(session: Session) -> list[StatusPage]:
    return list(session.scalars(select(StatusPage).order_by(StatusPage.name, StatusPage.id)))


def get_page(session: Session, ref: int | str) -> StatusPage:
    """A page by its id, or by its slug."""
    page: StatusPage | None
    page_id = ref if isinstance(ref, int) else v.digits(str(ref))
    if page_id is not None:
        page = session.get(StatusPage, page_id)
    else:
        page = session.scalar(select(StatusPage).where(StatusPage.slug == str(ref).lower()))
    if page is None:
        raise NotFound(f"no status page {ref!r}")
    return page


def _set_page_fields(session: Session, page: StatusPage, data: dict[str, Any]) -> None:
    if "name" in data:
        page.name = v.text(data["name"], "name", max_len=NAME_MAX, required=True)
    if "slug" in data:
        slug = v.text(data["slug"], "slug", max_len=64, required=True).lower()
        if not SLUG_RE.match(slug):
            raise ValidationFailed(
                "slug must be lower-case letters, digits and dashes (e.g. acme-status)",
                field="slug",
            )
        other = session.scalar(select(StatusPage).where(StatusPage.slug == slug))
        if other is not None and other is not page:
            raise Conflict(f"a status page with the slug {slug!r} already exists", field="slug")
        page.slug = slug
    if "description" in data:
        page.description = v.text(data["description"], "description", max_len=TEXT_MAX)
    if "visibility" in data:
        page.visibility = v.one_of(data["visibility"], "visibility", [x.value for x in Visibility])
    if "time_zone" in data:
        page.time_zone = v.timezone(data["time_zone"], "time_zone")
    if "public_url" in data:
        url = v.text(data["public_url"], "public_url", max_len=500)
        page.public_url = v.url(url, "public_url").rstrip("/") if url else ""
    if "brand_color" in data:
        page.brand_color = look.hex_color(data["brand_color"], "brand_color")
    if "accent_color" in data:
        page.accent_color = look.link_color(data["accent_color"], "accent_color")
    if "owner_team_id" in data:
        team_id = data["owner_team_id"]
        if team_id is not None and session.get(Team, team_id) is None:
            raise UnknownReference(f"no team with id {team_id}", field="owner_team_id")
        page.owner_team_id = team_id
    if "owner_user_id" in data:
        user_id = data["owner_user_id"]
        if user_id is not None and session.get(User, user_id) is None:
            raise UnknownReference(f"no user with id {user_id}", field="owner_user_id")
        page.owner_user_id = user_id
    if "allow_subscribers" in data:
        page.allow_subscribers = _bool(data["allow_subscribers"], "allow_subscribers")


def create_page(session: Session, data: dict[str, Any]) -> StatusPage:
    """A new page; `name` is required, the slug defaults to one made from the name."""
    _only(data, PAGE_FIELDS)
    data = dict(data)
    if not data.get("slug"):
        data["slug"] = slugify(v.text(data.get("name"), "name", max_len=NAME_MAX, required=True))
    page = StatusPage()
    _set_page_fields(session, page, {"name": data.get("name"), **data})
    session.add(page)
    session.flush()
    page_changed(session, page)
    return page


def update_page(session: Session, page: StatusPage, changes: dict[str, Any]) -> StatusPage:
    _only(changes, PAGE_FIELDS)
    _set_page_fields(session, page, changes)
    page_changed(session, page)
    return page


def delete_page(session: Session, page: StatusPage) -> None:
    session.delete(page)
    session.flush()


def set_logo(session: Session, page: StatusPage, data: bytes) -> StatusPage:
    """Store a PNG, JPEG, WebP or GIF logo (checked by its bytes, not its name)."""
    page.logo_content_type = look.logo_type(data)
    page.logo = data
    page_changed(session, page)
    return page


def remove_logo(session: Session, page: StatusPage) -> StatusPage:
    page.logo = None
    page.logo_content_type = None
    page_changed(session, page)
    return page


def new_secret_link(session: Session, page: StatusPage) -> str:
    """Make (or replace) the page's shared secret link; returns its token, shown once.
    Replacing it ends every access the old link gave."""
    token, token_hash = access.new_token()
    page.secret_link_hash = token_hash
    page.secret_link_created_at = utcnow()
    page_changed(session, page)
    return token


def remove_secret_link(session: Session, page: StatusPage) -> None:
    page.secret_link_hash = None
    page.secret_link_created_at = None
    page_changed(session, page)


# Groups -----------------------------------------------------------------------------------


def get_group(session: Session, page: StatusPage, group_id: int) -> ComponentGroup:
    group = session.get(ComponentGroup, group_id)
    if group is None or group.page_id != page.id:
        raise NotFound(f"no component group {group_id} on {page.name}")
    return group


def _next_position(session: Session, page: StatusPage, group_id: int | None) -> int:
    """Groups and ungrouped components share the page's top-level order; components in a
    group are ordered within it."""
    in_group = Component.group_id.is_(None) if group_id is None else Component.group_id == group_id
    top = session.scalar(
        select(func.max(Component.position)).where(Component.page_id == page.id, in_group)
    )
    if group_id is None:
        groups = session.scalar(
            select(func.max(ComponentGroup.position)).where(ComponentGroup.page_id == page.id)
        )
        top = max(top or 0, groups or 0)
    return int(top or 0) + 1


def top_level(page: StatusPage) -> list[Component | ComponentGroup]:
    """Groups and ungrouped components in page order."""
    items: list[Component | ComponentGroup] = [*page.groups]
    items += [c for c in page.components if c.group_id is None]
    return sorted(items, key=lambda x: (x.position, isinstance(x, Component), x.id))


def create_group(session: Session, page: StatusPage, data: dict[str, Any]) -> ComponentGroup:
    _only(data, GROUP_FIELDS)
    group = ComponentGroup(page_id=page.id)
    _set_group_fields(group, {"name": data.get("name"), **data})
    if "position" not in data:
        group.position = _next_position(session, page, None)
    session.add(group)
    session.flush()
    session.expire(page, ["groups"])
    page_changed(session, page)
    return group


def _set_group_fields(group: ComponentGroup, data: dict[str, Any]) -> None:
    if "name" in data:
        group.name = v.text(data["name"], "name", max_len=NAME_MAX, required=True)
    if "description" in data:
        group.description = v.text(data["description"], "description", max_len=TEXT_MAX)
    if "position" in data:
        group.position = v.integer(data["position"], "position", minimum=0, maximum=10_000)
    group.updated_at = utcnow()


def update_group(session: Session, group: ComponentGroup, changes: dict[str, Any]) -> None:
    _only(changes, GROUP_FIELDS)
    _set_group_fields(group, changes)
    page_changed(session, group.page)


def delete_group(session: Session, group: ComponentGroup) -> None:
    """Remove a group; its components stay on the page, ungrouped."""
    page = group.page
    for component in list(group.components):
        component.group_id = None
    session.delete(group)
    session.flush()
    page_changed(session, page)


# Components -------------------------------------------------------------------------------


def get_component(session: Session, page: StatusPage, component_id: int) -> Component:
    component = session.get(Component, component_id)
    if component is None or component.page_id != page.id:
        raise NotFound(f"no component {component_id} on {page.name}")
    return component


def _set_component_fields(session: Session, component: Component, data: dict[str, Any]) -> None:
    if "name" in data:
        component.name = v.text(data["name"], "name", max_len=NAME_MAX, required=True)
    if "description" in data:
        component.description = v.text(data["description"], "description", max_len=TEXT_MAX)
    if "group_id" in data:
        group_id = data["group_id"]
        if group_id is not None:
            group = session.get(ComponentGroup, group_id)
            if group is None or group.page_id != component.page_id:
                raise ValidationFailed(
                    f"no component group {group_id} on this page", field="group_id"
                )
        component.group_id = group_id
    if "service_id" in data:
        service_id = data["service_id"]
        if service_id is not None and session.get(Service, service_id) is None:
            raise UnknownReference(f"no service with id {service_id}", field="service_id")
        component.service_id = service_id
    if "position" in data:
        component.position = v.integer(data["position"], "position", minimum=0, maximum=10_000)
    for flag in ("showcase", "only_show_if_degraded"):
        if flag in data:
            setattr(component, flag, _bool(data[flag], flag))
    if "start_date" in data:
        start = data["start_date"]
        if start is not None and not isinstance(start, date):
            raise ValidationFailed("start_date must be a date", field="start_date")
        component.start_date = start
    component.updated_at = utcnow()


def create_component(
    session: Session, page: StatusPage, data: dict[str, Any], *, by: User | None = None
) -> Component:
    """A new component (operational unless `status` says otherwise)."""
    _only(data, COMPONENT_FIELDS | {"status"})
    component = Component(page_id=page.id)
    _set_component_fields(session, component, {"name": data.get("name"), **data})
    if "position" not in data:
        component.position = _next_position(session, page, component.group_id)
    component.status = v.one_of(data.get("status", "operational"), "status", STATUSES)
    session.add(component)
    session.flush()
    session.expire(page, ["components"])
    if component.group_id is not None:
        session.expire(component, ["group"])
        group = session.get(ComponentGroup, component.group_id)
        if group is not None:
            session.expire(group, ["components"])
    page_changed(session, page)
    return component


def update_component(session: Session, component: Component, changes: dict[str, Any]) -> None:
    _only(changes, COMPONENT_FIELDS)
    _set_component_fields(session, component, changes)
    session.flush()
    if "group_id" in changes:
        # Moving between groups: the groups' loaded lists are out of date.
        session.expire(component, ["group"])
        for group in component.page.groups:
            session.expire(group, ["components"])
    page_changed(session, component.page)


def delete_component(session: Session, component: Component) -> None:
    page = component.page
    session.delete(component)
    session.flush()
    page_changed(session, page)


def move(session: Session, item: Component | ComponentGroup, direction: str) -> None:
    """Swap a component with its neighbour (within its group) or a group with its neighbour;
    `direction` is "up" or "down"."""
    direction = v.one_of(direction, "direction", ["up", "down"])
    page = item.page
    siblings: list[Any]
    if isinstance(item, Component) and item.group_id is not None:
        siblings = [c for c in page.components if c.group_id == item.group_id]
    else:
        siblings = top_level(page)
    for index, sibling in enumerate(siblings):
        sibling.position = index + 1
    at = siblings.index(item)
    other = at - 1 if direction == "up" else at + 1
    if 0 <= other < len(siblings):
        siblings[at].position, siblings[other].position = (
            siblings[other].position,
            siblings[at].position,
        )
    session.flush()
    session.expire(page, ["groups", "components"])
    page_changed(session, page)


def apply_status(
    session: Session,
    component: Component,
    new_status: str,
    *,
    source: ChangeSource,
    by: User | None,
    update: PageIncidentUpdate | None = None,
    reason: str = "",
) -> ComponentChange | None:
    """Set a component's status and record the change (None if it was already so). The
    caller queues the render and the page event."""
    new_status = v.one_of(new_status, "status", STATUSES)
    if component.status == new_status:
        return None
    change = ComponentChange(
        component_id=component.id,
        component=component,
        old_status=component.status,
        new_status=new_status,
        source=source.value,
        page_incident_update=update,
        actor_id=by.id if by else None,
        reason=reason,
        created_at=utcnow(),
    )
    component.status = new_status
    component.updated_at = change.created_at
    session.add(change)
    return change


def set_component_status(
    session: Session, component: Component, status: str, *, by: User | None, reason: str = ""
) -> ComponentChange | None:
    """Change a component's status by hand; recorded, shown on the page, told to
    subscribers."""
    reason = v.text(reason, "reason", max_len=1000)
    change = apply_status(
        session, component, status, source=ChangeSource.manual, by=by, reason=reason
    )
    if change is None:
        return None
    session.flush()
    page_event(session, page=component.page, component_changes=[change])
    page_changed(session, component.page)
    return change


def component_history(session: Session, page: StatusPage, limit: int = 50) -> list[ComponentChange]:
    """The latest component status changes on a page, newest first."""
    return list(
        session.scalars(
            select(ComponentChange)
            .join(Component, Component.id == ComponentChange.component_id)
            .where(Component.page_id == page.id)
            .order_by(ComponentChange.id.desc())
            .limit(limit)
        )
    )
