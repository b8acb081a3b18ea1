"""Incident actions: declare, edit, move through the lifecycle, take notes (roles: roles.py).

Every function validates, writes, and appends to the timeline in the caller's transaction.
None of them commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.audit.trail import record as audit
from tocsin.bus import Event, emit
from tocsin.catalog.models import Service, User
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole, IncidentType, Priority, Severity
from tocsin.errors import InvalidTransition, NotFound, ValidationFailed
from tocsin.incidents import fields as custom
from tocsin.incidents import members, roles
from tocsin.incidents.declaring import (
    DONT_PAGE,
    URGENCIES,
    restricted_for,
    severity_id_for,
    urgency_for,
)
from tocsin.incidents.events import (
    FieldChange,
    IncidentDeclared,
    IncidentEdited,
    IncidentFieldsChanged,
    IncidentSeverityChanged,
    IncidentStatusChanged,
    IncidentTimestampsEdited,
    IncidentTypeChanged,
)
from tocsin.incidents.models import (
    Counter,
    Incident,
    Status,
    TimelineEntry,
)
from tocsin.incidents.timeline import actor_name, record

# Where each status may go. Resolved and closed incidents come back only through reopen().
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.triggered: frozenset(
        {
            Status.acknowledged,
            Status.investigating,
            Status.identified,
            Status.monitoring,
            Status.resolved,
        }
    ),
    Status.acknowledged: frozenset(
        {Status.investigating, Status.identified, Status.monitoring, Status.resolved}
    ),
    Status.investigating: frozenset({Status.identified, Status.monitoring, Status.resolved}),
    Status.identified: frozenset({Status.investigating, Status.monitoring, Status.resolved}),
    Status.monitoring: frozenset({Status.investigating, Status.identified, Status.resolved}),
    Status.resolved: frozenset({Status.closed}),
    Status.closed: frozenset(),
}

# The KPI timestamps, in the order they must happen.
TIMESTAMP_FIELDS = ("started_at", "detected_at", "acknowledged_at", "resolved_at", "closed_at")
TITLE_MAX = 255
TEXT_MAX = 20_000
CODENAME_MAX = 80
MAX_LINKS = 50


def _next_number(session: Session) -> int:
    """Take the next incident number; the counter row's lock makes it safe across processes."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    highest = select(func.coalesce(func.max(Incident.number), 0)).scalar_subquery()
    # Create the counter once (racing creators do nothing), then bump it under its row lock.
    session.execute(
        insert(Counter)
        .values(name="incident", value=highest)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return int(
        session.execute(
            update(Counter)
            .where(Counter.name == "incident")
            .values(value=Counter.value + 1)
            .returning(Counter.value)
        ).scalar_one()
    )


def _load(session: Session, model: type[Any], ident: int | None, field: str) -> Any:
    if ident is None:
        return None
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise ValidationFailed(f"{field} must be an id", field=field)
    obj = session.get(model, ident)
    if obj is None:
        raise NotFound(f"{field}: no {model.__name__.lower()} with id {ident}", field=field)
    return obj


def _services(session: Session, ids: Iterable[int]) -> list[Service]:
    unique = list(dict.fromkeys(ids))
    found = {s.id: s for s in session.scalars(select(Service).where(Service.id.in_(unique)))}
    missing = [i for i in unique if i not in found]
    if missing:
        raise NotFound(f"services: unknown service id(s) {missing}", field="service_ids")
    return [found[i] for i in unique]


def _links(value: Sequence[dict[str, str]] | None) -> list[dict[str, str]]:
    links = []
    for i, link in enumerate(value or []):
        if not isinstance(link, dict):
            raise ValidationFailed(f"links[{i}] must have a title and a url", field="links")
        url = v.url(link.get("url"), f"links[{i}].url")
        title = v.text(link.get("title") or url, f"links[{i}].title", max_len=255)
        links.append({"title": title, "url": url})
    if len(links) > MAX_LINKS:
        raise ValidationFailed(f"at most {MAX_LINKS} links", field="links")
    return links


def _check_timestamps(values: dict[str, datetime | None]) -> None:
    previous: tuple[str, datetime] | None = None
    for name in TIMESTAMP_FIELDS:
        when = values.get(name)
        if when is None:
            continue
        if previous is not None and when < previous[1]:
            raise ValidationFailed(
                f"{name} ({when.isoformat()}) cannot be before {previous[0]} "
                f"({previous[1].isoformat()})",
                field=name,
            )
        previous = (name, when)
    started = values.get("started_at")
    if started is not None and started > utcnow():
        raise ValidationFailed("started_at cannot be in the future", field="started_at")


def declare(
    session: Session,
    *,
    by: User | None,
    title: str,
    description: str = "",
    type_id: int | None = None,
    severity_id: int | None = None,
    priority_id: int | None = None,
    service_ids: Iterable[int] = (),
    customer_impact: str = "",
    links: Sequence[dict[str, str]] | None = None,
    custom_fields: dict[str, Any] | None = None,
    drill: bool = False,
    restricted: bool | None = None,
    codename: str = "",
    started_at: datetime | None = None,
    detected_at: datetime | None = None,
    commander_id: int | None = None,
    urgency: str | None = None,
) -> Incident:
    """Open a new incident in `triggered`. Alerts call this same function.

    `urgency` is "high" or "low"; None takes the severity's default urgency (high without a
    severity); "none" declares without paging: escalation does not start (that is on the
    timeline), and paging by hand later pages at the severity's default urgency.

    Emits `IncidentDeclared` once it is complete (with its commander): paging and the
    followers of its services react to that."""
    title = v.text(title, "title", max_len=TITLE_MAX, required=True)
    description = v.text(description, "description", max_len=TEXT_MAX)
    customer_impact = v.text(customer_impact, "customer_impact", max_len=TEXT_MAX)
    codename = v.text(codename, "codename", max_len=CODENAME_MAX)
    incident_type: IncidentType | None = _load(session, IncidentType, type_id, "type_id")
    severity_id = severity_id_for(incident_type, severity_id)
    if priority_id is None and incident_type and incident_type.default_priority_id:
        priority_id = incident_type.default_priority_id
    severity: Severity | None = _load(session, Severity, severity_id, "severity_id")
    priority: Priority | None = _load(session, Priority, priority_id, "priority_id")
    restricted = restricted_for(incident_type, restricted)
    values = custom.validate_all(
        session, incident_type.fields if incident_type else [], custom_fields or {}
    )
    now = utcnow()
    detected_at = v.aware(detected_at, "detected_at") or now
    started_at = v.aware(started_at, "started_at") or detected_at
    _check_timestamps({"started_at": started_at, "detected_at": detected_at})
    services = _services(session, service_ids)
    commander = _load(session, User, commander_id, "commander_id")
    chosen = None if urgency is None else v.one_of(urgency, "urgency", (*URGENCIES, DONT_PAGE))
    without_paging = chosen == DONT_PAGE
    urgency = urgency_for(severity, chosen)

    incident = Incident(
        number=_next_number(session),
        title=title,
        description=description,
        incident_type=incident_type,
        severity=severity,
        priority=priority,
        status=Status.triggered.value,
        urgency=urgency,
        declared_without_paging=without_paging,
        customer_impact=customer_impact,
        links=_links(links),
        custom_fields=values,
        drill=bool(drill),
        restricted=bool(restricted),
        codename=codename,
        started_at=started_at,
        detected_at=detected_at,
        created_at=now,
        updated_at=now,
        created_by=by,
        services=services,
    )
    session.add(incident)
    session.flush()
    members.join(session, incident, by, by=by)
    if incident.restricted:
        audit(
            session,
            "incident.made_private",
            target_type="incident",
            target_id=incident.id,
            target=incident.reference,
            detail={"at_declaration": True, "codename": codename},
        )
    what = "Drill declared" if drill else "Incident declared"
    record(
        session,
        incident,
        "created",
        f"{what} by {actor_name(by)}: {title}",
        by=by,
        new={
            "severity": severity.name if severity else None,
            "type": incident_type.name if incident_type else None,
        },
        key_event=True,
        # A backfilled declaration sits where detection happened, before what followed.
        occurred_at=min(detected_at, now),
    )
    if commander is not None:
        role = session.scalar(select(IncidentRole).where(IncidentRole.slug == "incident_commander"))
        if role is not None:
            # Part of the declaration: no RoleAssigned before IncidentDeclared.
            roles.assign_at_declaration(session, incident, role, commander, by)
    if without_paging:
        record(
            session,
            incident,
            "paging",
            f"Declared without paging by {actor_name(by)}: nobody is paged unless someone "
            "escalates or pages by hand",
            by=by,
            occurred_at=min(detected_at, now),
        )
    emit(
        session,
        IncidentDeclared(
            incident_id=incident.id,
            title=incident.title,
            service_ids=tuple(s.id for s in services),
            severity_id=severity.id if severity else None,
            type_id=incident_type.id if incident_type else None,
            urgency=urgency,
            paging=not without_paging,
            drill=incident.drill,
            restricted=incident.restricted,
            commander_id=commander.id if commander is not None else None,
            by_id=by.id if by else None,
        ),
    )
    return incident


def change_status(
    session: Session,
    incident: Incident,
    to: Status | str,
    *,
    by: User | None,
    occurred_at: datetime | None = None,
) -> TimelineEntry | None:
    """Move along the lifecycle; refuses moves the lifecycle does not allow (409). Emits
    `IncidentStatusChanged`."""
    try:
        target = Status(to)
    except ValueError as exc:
        raise ValidationFailed(
            f"status must be one of {', '.join(s.value for s in Status)} (got {to!r})",
            field="status",
        ) from exc
    current = Status(incident.status)
    if target == current:
        return None
    if target not in TRANSITIONS[current]:
        allowed = sorted(s.value for s in TRANSITIONS[current])
        hint = f"; it can move to {', '.join(allowed)}" if allowed else ""
        if current in (Status.resolved, Status.closed) and target != Status.closed:
            hint += "; reopen it first"
        raise InvalidTransition(
            f"{incident.reference} is {current.value} and cannot move to {target.value}{hint}"
        )
    when = v.aware(occurred_at, "occurred_at") or utcnow()
    if current == Status.triggered and incident.acknowledged_at is None:
        incident.acknowledged_at = when
    if target == Status.resolved:
        incident.resolved_at = when
    if target == Status.closed:
        incident.closed_at = when
    incident.status = target.value
    entry = record(
        session,
        incident,
        "status_changed",
        f"{actor_name(by)} changed the status from {current.value} to {target.value}",
        by=by,
        field="status",
        old=current.value,
        new=target.value,
        key_event=target in (Status.resolved, Status.closed, Status.identified),
        occurred_at=when,
    )
    emit(session, IncidentStatusChanged(incident.id, current, target, _id(by), when))
    session.flush()  # the entry's id, for the caller
    return entry


def acknowledge(session: Session, incident: Incident, *, by: User | None) -> TimelineEntry | None:
    if Status(incident.status) != Status.triggered:
        raise InvalidTransition(
            f"{incident.reference} is {incident.status}; only a triggered incident "
            "can be acknowledged"
        )
    return change_status(session, incident, Status.acknowledged, by=by)


def resolve(
    session: Session, incident: Incident, *, by: User | None, summary: str = ""
) -> TimelineEntry | None:
    """Mark the incident resolved. A summary (how it ended, what fixed it) is kept on the
    incident for the postmortem and is the resolution note on the timeline; without one, an
    earlier summary (from before a reopen) stays."""
    summary = v.text(summary, "summary", max_len=TEXT_MAX)
    current = Status(incident.status)
    if summary and (current == Status.resolved or Status.resolved in TRANSITIONS[current]):
        # Before the status change, so that its reactions (the postmortem) read it.
        incident.resolution_summary = summary
    entry = change_status(session, incident, Status.resolved, by=by)
    if summary:
        record(
            session,
            incident,
            "resolution_note",
            f"{actor_name(by)} wrote the resolution summary",
            by=by,
            field="resolution_summary",
            body=summary,
            key_event=True,
            occurred_at=incident.resolved_at,
        )
    return entry


def close(session: Session, incident: Incident, *, by: User | None) -> TimelineEntry | None:
    return change_status(session, incident, Status.closed, by=by)


def reopen(session: Session, incident: Incident, *, by: User | None) -> TimelineEntry:
    """Bring a resolved or closed incident back to investigating."""
    current = Status(incident.status)
    if current not in (Status.resolved, Status.closed):
        raise InvalidTransition(
            f"{incident.reference} is {current.value}; only resolved or closed incidents "
            "can be reopened"
        )
    old = {"resolved_at": _iso(incident.resolved_at), "closed_at": _iso(incident.closed_at)}
    incident.status = Status.investigating.value
    incident.resolved_at = None
    incident.closed_at = None
    entry = record(
        session,
        incident,
        "reopened",
        f"{actor_name(by)} reopened the incident (was {current.value})",
        by=by,
        field="status",
        old={"status": current.value, **old},
        new=Status.investigating.value,
        key_event=True,
    )
    emit(
        session,
        IncidentStatusChanged(incident.id, current, Status.investigating, _id(by), utcnow()),
    )
    session.flush()  # the entry's id, for the caller
    return entry


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _id(user: User | None) -> int | None:
    return user.id if user is not None else None


def edit_timestamps(
    session: Session, incident: Incident, changes: dict[str, datetime | None], *, by: User | None
) -> list[TimelineEntry]:
    """Backfill or correct the KPI timestamps; each edit is itself on the timeline. Emits
    `IncidentTimestampsEdited` when any changed."""
    unknown = set(changes) - set(TIMESTAMP_FIELDS)
    if unknown:
        raise ValidationFailed(
            f"unknown timestamp(s) {sorted(unknown)}; editable: {', '.join(TIMESTAMP_FIELDS)}"
        )
    proposed = {name: getattr(incident, name) for name in TIMESTAMP_FIELDS}
    for name, value in changes.items():
        proposed[name] = v.aware(value, name)
    if proposed["started_at"] is None:
        raise ValidationFailed("started_at cannot be cleared", field="started_at")
    if proposed["detected_at"] is None:
        raise ValidationFailed("detected_at cannot be cleared", field="detected_at")
    status = Status(incident.status)
    if proposed["resolved_at"] is None and status in (Status.resolved, Status.closed):
        raise ValidationFailed("a resolved incident needs resolved_at", field="resolved_at")
    if proposed["closed_at"] is None and status == Status.closed:
        raise ValidationFailed("a closed incident needs closed_at", field="closed_at")
    if proposed["resolved_at"] is not None and status not in (Status.resolved, Status.closed):
        raise ValidationFailed(
            "resolved_at can only be set on a resolved or closed incident", field="resolved_at"
        )
    if proposed["closed_at"] is not None and status != Status.closed:
        raise ValidationFailed("closed_at can only be set on a closed incident", field="closed_at")
    _check_timestamps(proposed)
    entries = []
    for name in TIMESTAMP_FIELDS:
        old, new = getattr(incident, name), proposed[name]
        if name not in changes or old == new:
            continue
        setattr(incident, name, new)
        entries.append(
            record(
                session,
                incident,
                "timestamp_changed",
                f"{actor_name(by)} set {name.replace('_', ' ')} to "
                f"{new.strftime('%Y-%m-%d %H:%M UTC') if new else 'nothing'}",
                by=by,
                field=name,
                old=_iso(old),
                new=_iso(new),
            )
        )
    if entries:
        changed = tuple(str(e.field) for e in entries)
        emit(session, IncidentTimestampsEdited(incident.id, changed, _id(by)))
    return entries


_PLAIN_FIELDS = {
    "title": TITLE_MAX,
    "description": TEXT_MAX,
    "customer_impact": TEXT_MAX,
    "resolution_summary": TEXT_MAX,
    "codename": CODENAME_MAX,
}


def edit(
    session: Session, incident: Incident, changes: dict[str, Any], *, by: User | None
) -> list[TimelineEntry]:
    """Change descriptive fields; one timeline entry per field that actually changed.

    Once every change is written, emits what changed: `IncidentSeverityChanged`,
    `IncidentTypeChanged`, `IncidentFieldsChanged`, then `IncidentEdited` for the other
    fields, the services and the drill and restricted flags."""
    allowed = set(_PLAIN_FIELDS) | {
        "type_id",
        "severity_id",
        "priority_id",
        "service_ids",
        "links",
        "custom_fields",
        "drill",
        "restricted",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"unknown or read-only field(s): {', '.join(sorted(unknown))}")
    entries: list[TimelineEntry] = []
    events: list[Event] = []
    edited: list[str] = []

    def note(field: str, old: Any, new: Any, summary: str, key: bool = False) -> None:
        entries.append(
            record(
                session,
                incident,
                "field_changed",
                summary,
                by=by,
                field=field,
                old=old,
                new=new,
                key_event=key,
            )
        )

    who = actor_name(by)
    was_drill, was_restricted = incident.drill, incident.restricted
    added_services: list[Service] = []
    removed_services: list[Service] = []
    for name, max_len in _PLAIN_FIELDS.items():
        if name in changes:
            new = v.text(changes[name], name, max_len=max_len, required=name == "title")
            old = getattr(incident, name)
            if new != old:
                setattr(incident, name, new)
                edited.append(name)
                label = name.replace("_", " ")
                note(
                    name,
                    old,
                    new,
                    f"{who} changed the {label}" + (f" to “{new}”" if name == "title" else ""),
                )
    for name, model, attr in (
        ("severity_id", Severity, "severity"),
        ("priority_id", Priority, "priority"),
        ("type_id", IncidentType, "incident_type"),
    ):
        if name in changes:
            new_obj = _load(session, model, changes[name], name)
            old_obj = getattr(incident, attr)
            if new_obj is not old_obj:
                setattr(incident, attr, new_obj)
                old_name = old_obj.name if old_obj else None
                new_name = new_obj.name if new_obj else None
                label = "type" if attr == "incident_type" else attr
                note(
                    attr,
                    old_name,
                    new_name,
                    f"{who} changed the {label} from {old_name or 'none'} to {new_name or 'none'}",
                    key=attr == "severity",
                )
                ids = (old_obj.id if old_obj else None, new_obj.id if new_obj else None)
                if attr == "severity":
                    events.append(IncidentSeverityChanged(incident.id, *ids, _id(by)))
                elif attr == "incident_type":
                    events.append(IncidentTypeChanged(incident.id, *ids, _id(by)))
                else:
                    edited.append(attr)
    if "service_ids" in changes:
        services = _services(session, changes["service_ids"] or [])
        old_names = [s.name for s in incident.services]
        new_names = [s.name for s in services]
        if sorted(old_names) != sorted(new_names):
            added_services = [s for s in services if s not in incident.services]
            removed_services = [s for s in incident.services if s not in services]
            incident.services = services
            edited.append("services")
            note(
                "services",
                old_names,
                new_names,
                f"{who} set the affected services to {', '.join(new_names) or 'none'}",
            )
    if "links" in changes:
        links = _links(changes["links"])
        if links != list(incident.links or []):
            old = list(incident.links or [])
            incident.links = links
            edited.append("links")
            note("links", old, links, f"{who} updated the links")
    for flag in ("drill", "restricted"):
        if flag in changes:
            new_flag = changes[flag]
            if not isinstance(new_flag, bool):
                raise ValidationFailed(f"{flag} must be true or false", field=flag)
            if new_flag != getattr(incident, flag):
                setattr(incident, flag, new_flag)
                if flag == "restricted":
                    # People know the flag as "private" (docs/private-incidents.md).
                    state = "private" if new_flag else "public"
                    summary = f"{who} made the incident {state}"
                    audit(
                        session,
                        f"incident.made_{state}",
                        target_type="incident",
                        target_id=incident.id,
                        target=incident.reference,
                        detail={"old": {"private": not new_flag}, "new": {"private": new_flag}},
                    )
                else:
                    summary = f"{who} turned {flag} {'on' if new_flag else 'off'}"
                note(flag, not new_flag, new_flag, summary, key=True)
                edited.append(flag)
    if "custom_fields" in changes or "type_id" in changes:
        fields = incident.incident_type.fields if incident.incident_type else []
        merged = dict(incident.custom_fields or {})
        merged.update(changes.get("custom_fields") or {})
        values = custom.validate_all(session, fields, merged)
        old_values = dict(incident.custom_fields or {})
        if values != old_values:
            incident.custom_fields = values
            labels = {f.key: f.label for f in fields}
            changed: list[FieldChange] = []
            for key in sorted(set(values) | set(old_values)):
                if values.get(key) != old_values.get(key):
                    note(
                        f"custom:{key}",
                        old_values.get(key),
                        values.get(key),
                        f"{who} set {labels.get(key, key)} to "
                        f"{custom.display(values.get(key)) or 'nothing'}",
                    )
                    changed.append(FieldChange(key, old_values.get(key), values.get(key)))
            events.append(IncidentFieldsChanged(incident.id, tuple(changed), _id(by)))
    if edited:
        events.append(
            IncidentEdited(
                incident_id=incident.id,
                fields=tuple(edited),
                added_service_ids=tuple(s.id for s in added_services),
                removed_service_ids=tuple(s.id for s in removed_services),
                was_drill=was_drill,
                drill=incident.drill,
                was_restricted=was_restricted,
                restricted=incident.restricted,
                by_id=_id(by),
            )
        )
    for event in events:
        emit(session, event)
    return entries


def add_note(
    session: Session,
    incident: Incident,
    body: str,
    *,
    by: User | None,
    occurred_at: datetime | None = None,
    key_event: bool = False,
) -> TimelineEntry:
    """A manual timeline note; occurred_at may be in the past to backfill what happened."""
    body = v.text(body, "body", max_len=TEXT_MAX, required=True)
    when = v.past(occurred_at, "occurred_at", utcnow())
    entry = record(
        session,
        incident,
        "note",
        f"{actor_name(by)} added a note",
        by=by,
        body=body,
        key_event=bool(key_event),
        occurred_at=when,
    )
    session.flush()  # the entry's id, for the caller
    return entry


def add_chat_message(
    session: Session,
    incident: Incident,
    body: str,
    *,
    by: User | None,
    author: str,
    where: str,
    occurred_at: datetime,
) -> TimelineEntry:
    """A chat message put on the timeline (pinned with 📌, or a command): said by `by` (the
    linked person) or, unlinked, by `author` as the chat names them, in `where`, at
    `occurred_at`."""
    body = v.text(body, "body", max_len=TEXT_MAX) or "(an empty message)"
    entry = record(
        session,
        incident,
        "chat_message",
        f"{by.name if by else author} in {where}",
        by=by,
        body=body,
        occurred_at=min(v.aware(occurred_at, "occurred_at") or utcnow(), utcnow()),
    )
    session.flush()
    return entry


def revise_chat_message(
    session: Session, incident: Incident, entry_id: int, body: str | None
) -> TimelineEntry | None:
    """Keep a chat message's entry in step with the chat: its new text after an edit, or
    (None) its text removed once deleted there. None if the entry is gone."""
    entry = session.get(TimelineEntry, entry_id)
    if entry is None or entry.incident_id != incident.id or entry.kind != "chat_message":
        return None
    base = entry.summary.split(" (")[0]
    when = utcnow().strftime("%Y-%m-%d %H:%M UTC")
    if body is None:
        entry.body = ""
        entry.summary = f"{base} (deleted in chat {when})"
    else:
        entry.body = v.text(body, "body", max_len=TEXT_MAX) or "(an empty message)"
        entry.summary = f"{base} (edited {when})"
    incident.updated_at = utcnow()
    return entry


def set_key_event(
    session: Session, incident: Incident, entry_id: int, is_key: bool, *, by: User | None
) -> TimelineEntry:
    """Flag or unflag a timeline entry as a key event (a milestone for the postmortem)."""
    entry = session.get(TimelineEntry, entry_id)
    if entry is None or entry.incident_id != incident.id:
        raise NotFound(f"{incident.reference} has no timeline entry {entry_id}")
    entry.is_key_event = bool(is_key)
    incident.updated_at = utcnow()
    return entry
