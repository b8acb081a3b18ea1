"""The `status_pages` section: pages matched by slug, their groups and components by name.

Groups are listed in page order, then the components outside any group; `apply` puts them
in the file's order. Groups and components missing from the file are left alone, like
everything else `apply` does not delete. Component statuses, incidents, maintenance, the
logo and the secret link are operational, not configuration.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team
from tocsin.configfile.alerting import NewKey
from tocsin.errors import NotFound, ValidationFailed
from tocsin.statuspages import service
from tocsin.statuspages.models import Component, ComponentGroup, StatusPage

Doc = dict[str, Any]
PAGE_FIELDS = (
    "name",
    "description",
    "visibility",
    "time_zone",
    "public_url",
    "brand_color",
    "accent_color",
    "allow_subscribers",
)


def _component_doc(c: Component) -> Doc:
    return {
        "name": c.name,
        "description": c.description,
        "service": c.service.name if c.service else None,
        "showcase": c.showcase,
        "only_show_if_degraded": c.only_show_if_degraded,
    }


def current(session: Session) -> dict[str, Doc]:
    out = {}
    for page in service.list_pages(session):
        doc: Doc = {"slug": page.slug, **{f: getattr(page, f) for f in PAGE_FIELDS}}
        doc["owner_team"] = page.owner_team.name if page.owner_team else None
        doc["owner_user"] = page.owner_user.email if page.owner_user else None
        doc["groups"] = [
            {
                "name": g.name,
                "description": g.description,
                "components": [_component_doc(c) for c in g.components],
            }
            for g in page.groups
        ]
        doc["components"] = [_component_doc(c) for c in page.components if c.group_id is None]
        out[page.slug] = doc
    return out


def _team_id(session: Session, name: str | None) -> int | None:
    if not name:
        return None
    team = session.scalar(select(Team).where(func.lower(Team.name) == name.lower()))
    if team is None:
        raise ValidationFailed(f"no team named {name!r}", field="owner_team")
    return team.id


def _user_id(session: Session, email: str | None) -> int | None:
    if not email:
        return None
    user = catalog.user_by_email(session, email)
    if user is None:
        raise ValidationFailed(f"no user with email {email!r}", field="owner_user")
    return user.id


def _service_id(session: Session, name: str | None, where: str) -> int | None:
    if not name:
        return None
    found = session.scalar(select(Service).where(func.lower(Service.name) == name.lower()))
    if found is None:
        raise ValidationFailed(f"no service named {name!r}", field=f"{where}.service")
    return found.id


def _page_fields(session: Session, desired: Doc) -> Doc:
    fields = {f: desired[f] for f in PAGE_FIELDS}
    fields["owner_team_id"] = _team_id(session, desired.get("owner_team"))
    fields["owner_user_id"] = _user_id(session, desired.get("owner_user"))
    return fields


def _sync_component(
    session: Session,
    page: StatusPage,
    doc: Doc,
    group: ComponentGroup | None,
    position: int,
    where: str,
) -> str | None:
    wanted = {
        "name": doc["name"],
        "description": doc["description"],
        "service_id": _service_id(session, doc.get("service"), where),
        "showcase": doc["showcase"],
        "only_show_if_degraded": doc["only_show_if_degraded"],
        "group_id": group.id if group else None,
        "position": position,
    }
    existing = next((c for c in page.components if c.name.lower() == doc["name"].lower()), None)
    if existing is None:
        service.create_component(session, page, wanted)
        return f"create component {doc['name']!r} of status page {page.slug!r}"
    diff = {k: v for k, v in wanted.items() if getattr(existing, k) != v}
    if diff:
        service.update_component(session, existing, diff)
        if set(diff) - {"position"}:
            what = ", ".join(sorted(set(diff) - {"position"}))
            return f"update component {doc['name']!r} of status page {page.slug!r}: {what}"
    return None


def reconcile(session: Session, key: str, desired: Doc, new_keys: list[NewKey]) -> list[str]:
    """Create or update one status page, its groups and components."""
    changes: list[str] = []
    try:
        page = service.get_page(session, key)
    except NotFound:
        page = service.create_page(session, {"slug": key, **_page_fields(session, desired)})
        changes.append(f"create status page {key!r}")
    else:
        fields = _page_fields(session, desired)
        diff = {k: v for k, v in fields.items() if getattr(page, k) != v}
        if diff:
            service.update_page(session, page, diff)
            changes.append(f"update status page {key!r}: {', '.join(sorted(diff))}")
    position = 0
    for index, group_doc in enumerate(desired["groups"]):
        position += 1
        group = next((g for g in page.groups if g.name.lower() == group_doc["name"].lower()), None)
        wanted = {
            "name": group_doc["name"],
            "description": group_doc["description"],
            "position": position,
        }
        if group is None:
            group = service.create_group(session, page, wanted)
            changes.append(f"create group {group_doc['name']!r} of status page {key!r}")
        else:
            diff = {k: v for k, v in wanted.items() if getattr(group, k) != v}
            if diff:
                service.update_group(session, group, diff)
                if set(diff) - {"position"}:
                    changes.append(f"update group {group_doc['name']!r} of status page {key!r}")
        for inner, doc in enumerate(group_doc["components"], start=1):
            where = f"groups[{index}].components[{inner - 1}]"
            line = _sync_component(session, page, doc, group, inner, where)
            if line:
                changes.append(line)
    for index, doc in enumerate(desired["components"]):
        position += 1
        line = _sync_component(session, page, doc, None, position, f"components[{index}]")
        if line:
            changes.append(line)
    return changes
