"""One handler per top-level section of the file, registered in SECTIONS.

A handler knows its section's item model, the field that names an object (its key), which
other sections its fields refer to, how to read the current state in the file's form, and
how to create or update an object through the service functions. The engine does the rest
(validation, diff, one transaction, export). A new domain (schedules, escalation policies,
integrations, status pages) adds a handler to SECTIONS and nothing else.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team, User
from tocsin.configfile.schema import (
    IncidentTypeDoc,
    Item,
    PhaseName,
    PriorityDoc,
    RoleDoc,
    ServiceDoc,
    SeverityDoc,
    TeamDoc,
    UserDoc,
)
from tocsin.definitions import service as defs
from tocsin.definitions.models import IncidentRole, IncidentType, Priority, Severity
from tocsin.errors import ValidationFailed

Doc = dict[str, Any]


def fold(key: str) -> str:
    """How keys compare: names are unique regardless of case, so references are too."""
    return key.casefold()


def find(session: Session, model: type[Any], column: Any, key: str, what: str) -> Any:
    """The object whose name is `key` in any case; configuration tables are small."""
    for obj in session.scalars(select(model)):
        if fold(getattr(obj, column.key)) == fold(key):
            return obj
    raise ValidationFailed(f"no {what} named {key!r}")


class Section:
    """A list of objects, each named by `key`."""

    name: ClassVar[str]  # the top-level key in the file
    noun: ClassVar[str]  # how a change names one object: "create service 'Checkout'"
    key: ClassVar[str]  # the field naming an object; compared case-insensitively
    item: ClassVar[type[Item]]
    # field -> the section whose keys its value (a key or a list of keys) must be.
    references: ClassVar[dict[str, str]] = {}
    # list fields whose order carries no meaning (compared as sets).
    unordered: ClassVar[frozenset[str]] = frozenset()

    def annotation(self) -> Any:
        """The type of the section's value in the file, for the document model."""
        return list[self.item]  # type: ignore[name-defined]

    def entries(self, value: Any) -> list[tuple[str, str, Doc]]:
        """(path, key, fields written in the file) for each object in the section's value."""
        return [
            (f"{self.name}[{index}]", str(getattr(item, self.key)), _written(item))
            for index, item in enumerate(value)
        ]

    def current(self, session: Session) -> dict[str, Doc]:
        """Every existing object in the file's form, by key."""
        raise NotImplementedError

    def create(self, session: Session, doc: Doc) -> None:
        raise NotImplementedError

    def update(self, session: Session, key: str, changes: Doc) -> None:
        """Change the fields in `changes` of the object whose key (as stored) is `key`."""
        raise NotImplementedError

    def export(self, current: dict[str, Doc]) -> Any:
        return list(current.values())


def _written(item: Item) -> Doc:
    """The fields the file sets; nested objects in full (a list of them is replaced whole)."""
    dumped = item.model_dump()
    return {name: dumped[name] for name in item.model_fields_set}


# Vocabulary ---------------------------------------------------------------------------------


class Severities(Section):
    name, noun, key, item = "severities", "severity", "name", SeverityDoc

    def current(self, session: Session) -> dict[str, Doc]:
        return {
            s.name: {
                "name": s.name,
                "label": s.label,
                "description": s.description,
                "rank": s.rank,
                "response_target_minutes": s.response_target_minutes,
                "response_next_business_day": s.response_next_business_day,
                "color": s.color,
            }
            for s in defs.severities(session)
        }

    def create(self, session: Session, doc: Doc) -> None:
        defs.create_severity(session, doc)

    def update(self, session: Session, key: str, changes: Doc) -> None:
        defs.update_severity(session, find(session, Severity, Severity.name, key, "severity").id, changes)


class Priorities(Section):
    name, noun, key, item = "priorities", "priority", "name", PriorityDoc

    def current(self, session: Session) -> dict[str, Doc]:
        return {
            p.name: {"name": p.name, "description": p.description, "rank": p.rank}
            for p in defs.priorities(session)
        }

    def create(self, session: Session, doc: Doc) -> None:
        defs.create_priority(session, doc)

    def update(self, session: Session, key: str, changes: Doc) -> None:
        defs.update_priority(session, find(session, Priority, Priority.name, key, "priority").id, changes)


class Roles(Section):
    name, noun, key, item = "roles", "role", "slug", RoleDoc

    def current(self, session: Session) -> dict[str, Doc]:
        return {
            r.slug: {
                "slug": r.slug,
                "name": r.name,
                "description": r.description,
                "responsibilities": r.responsibility_list,
            }
            for r in defs.roles(session)
        }

    def create(self, session: Session, doc: Doc) -> None:
        # New roles go last in the order people see them.
        defs.create_role(session, {**doc, "position": len(defs.roles(session))})

    def update(self, session: Session, key: str, changes: Doc) -> None:
        defs.update_role(session, _role(session, key).id, changes)


def _role(session: Session, slug: str) -> IncidentRole:
    return find(session, IncidentRole, IncidentRole.slug, slug, "role")  # type: ignore[no-any-return]


class Templates(Section):
    """A mapping phase -> body rather than a list: there is exactly one per phase."""

    name, noun, key = "templates", "template", "phase"

    def annotation(self) -> Any:
        return dict[PhaseName, str]

    def entries(self, value: Any) -> list[tuple[str, str, Doc]]:
        return [
            (f"templates.{phase}", phase, {"phase": phase, "body": body})
            for phase, body in value.items()
        ]

    def current(self, session: Session) -> dict[str, Doc]:
        return {
            phase: {"phase": phase, "body": body}
            for phase, body in defs.templates(session).items()
        }

    def create(self, session: Session, doc: Doc) -> None:
        defs.set_template(session, doc["phase"], doc["body"])

    def update(self, session: Session, key: str, changes: Doc) -> None:
        defs.set_template(session, key, changes["body"])

    def export(self, current: dict[str, Doc]) -> Any:
        return {phase: doc["body"] for phase, doc in current.items()}


class IncidentTypes(Section):
    name, noun, key, item = "incident_types", "incident type", "name", IncidentTypeDoc
    references = {
        "default_severity": "severities",
        "default_priority": "priorities",
        "roles_to_fill": "roles",
    }
    unordered = frozenset({"roles_to_fill"})

    def current(self, session: Session) -> dict[str, Doc]:
        return {
            t.name: {
                "name": t.name,
                "description": t.description,
                "default_severity": t.default_severity.name if t.default_severity else None,
                "default_priority": t.default_priority.name if t.default_priority else None,
                "default_restricted": t.default_restricted,
                "roles_to_fill": [r.slug for r in t.roles_to_fill],
                "fields": [f.describe() for f in t.fields],
            }
            for t in defs.incident_types(session)
        }

    def create(self, session: Session, doc: Doc) -> None:
        defs.create_incident_type(session, self._ids(session, doc))

    def update(self, session: Session, key: str, changes: Doc) -> None:
        itype = find(session, IncidentType, IncidentType.name, key, "incident type")
        defs.update_incident_type(session, itype.id, self._ids(session, changes))

    @staticmethod
    def _ids(session: Session, doc: Doc) -> Doc:
        data = dict(doc)
        if "default_severity" in data:
            name = data.pop("default_severity")
            data["default_severity_id"] = (
                find(session, Severity, Severity.name, name, "severity").id if name else None
            )
        if "default_priority" in data:
            name = data.pop("default_priority")
            data["default_priority_id"] = (
                find(session, Priority, Priority.name, name, "priority").id if name else None
            )
        if "roles_to_fill" in data:
            data["role_ids"] = [_role(session, slug).id for slug in data.pop("roles_to_fill")]
        return data


# Catalog --------------------------------------------------------------------------------------


class Users(Section):
    """People, without passwords: those are set in the UI or with `tocsin user`."""

    name, noun, key, item = "users", "user", "email", UserDoc

    def current(self, session: Session) -> dict[str, Doc]:
        return {
            u.email: {"name": u.name, "email": u.email, "role": u.role, "timezone": u.timezone}
            for u in session.scalars(select(User).order_by(User.name, User.email))
        }

    def create(self, session: Session, doc: Doc) -> None:
        catalog.create_user(session, **doc)

    def update(self, session: Session, key: str, changes: Doc) -> None:
        catalog.update_user(session, _user(session, key), changes)


def _user(session: Session, email: str) -> User:
    user = catalog.user_by_email(session, email)
    if user is None:
        raise ValidationFailed(f"no user with email {email!r}")
    return user


class Teams(Section):
    name, noun, key, item = "teams", "team", "name", TeamDoc
    references = {"members": "users"}
    unordered = frozenset({"members"})

    def current(self, session: Session) -> dict[str, Doc]:
        return {
            t.name: {
                "name": t.name,
                "description": t.description,
                "members": sorted(m.email for m in t.members),
            }
            for t in session.scalars(select(Team).order_by(Team.name))
        }

    def create(self, session: Session, doc: Doc) -> None:
        catalog.create_team(session, **self._ids(session, doc))

    def update(self, session: Session, key: str, changes: Doc) -> None:
        team = find(session, Team, Team.name, key, "team")
        catalog.update_team(session, team, self._ids(session, changes))

    @staticmethod
    def _ids(session: Session, doc: Doc) -> Doc:
        data = dict(doc)
        if "members" in data:
            data["member_ids"] = [_user(session, email).id for email in data.pop("members")]
        return data


class Services(Section):
    name, noun, key, item = "services", "service", "name", ServiceDoc
    references = {"team": "teams"}

    def current(self, session: Session) -> dict[str, Doc]:
        return {
            s.name: {
                "name": s.name,
                "description": s.description,
                "team": s.team.name if s.team else None,
                "tier": s.tier,
            }
            for s in session.scalars(select(Service).order_by(Service.name))
        }

    def create(self, session: Session, doc: Doc) -> None:
        catalog.create_service(session, **self._ids(session, doc))

    def update(self, session: Session, key: str, changes: Doc) -> None:
        service = find(session, Service, Service.name, key, "service")
        catalog.update_service(session, service, self._ids(session, changes))

    @staticmethod
    def _ids(session: Session, doc: Doc) -> Doc:
        data = dict(doc)
        if "team" in data:
            name = data.pop("team")
            data["team_id"] = find(session, Team, Team.name, name, "team").id if name else None
        return data


# Applied in this order, so that an object can refer to one created earlier in the same file.
SECTIONS: list[Section] = [
    Severities(),
    Priorities(),
    Roles(),
    Templates(),
    IncidentTypes(),
    Users(),
    Teams(),
    Services(),
]
