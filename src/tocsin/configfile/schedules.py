"""The `schedules` section: schedules with their layers, matched by name.

Layers are matched by name within their schedule and kept in the file's order (lowest
first); layers missing from the file are left alone (above the listed ones), like
everything else `apply` does not delete. Overrides are operational, not configuration.
Calendar layers are declared with their `ical_url`; importing them is `POST .../import`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Team, User
from tocsin.configfile.alerting import NewKey
from tocsin.errors import NotFound, ValidationFailed
from tocsin.schedules import service
from tocsin.schedules.models import Layer, Schedule

Doc = dict[str, Any]


def _emails(session: Session) -> dict[int, str]:
    return dict(session.execute(select(User.id, User.email)).all())


def _layer_doc(layer: Layer, emails: dict[int, str]) -> Doc:
    doc: Doc = {
        "name": layer.name,
        "kind": layer.kind,
        "shift_length": layer.shift_length,
        "shift_unit": layer.shift_unit,
        "handoff_time": layer.handoff_time.strftime("%H:%M"),
        "timezone": layer.timezone,
        "start_date": layer.start_date.isoformat(),
        "end": layer.end.astimezone(UTC).isoformat() if layer.end else None,
        "members": [emails.get(i, str(i)) for i in layer.member_ids],
        "restrictions": layer.restrictions,
        "ical_url": layer.ical_url,
    }
    return doc


def current(session: Session) -> dict[str, Doc]:
    emails = _emails(session)
    out = {}
    for schedule in service.list_schedules(session):
        out[schedule.name] = {
            "name": schedule.name,
            "description": schedule.description,
            "timezone": schedule.timezone,
            "team": schedule.team.name if schedule.team else None,
            "layers": [_layer_doc(layer, emails) for layer in schedule.layers],
        }
    return out


def _team_id(session: Session, name: str | None) -> int | None:
    if not name:
        return None
    team = session.scalar(select(Team).where(func.lower(Team.name) == name.lower()))
    if team is None:
        raise ValidationFailed(f"no team named {name!r}", field="team")
    return team.id


def _member_ids(session: Session, emails: list[str]) -> list[int]:
    ids = []
    for email in emails:
        user = catalog.user_by_email(session, email)
        if user is None:
            raise ValidationFailed(f"members: no user with email {email!r}", field="members")
        ids.append(user.id)
    return ids


def _normal_end(value: str | None) -> str | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(
            f"end: not an ISO 8601 date and time: {value!r}", field="end"
        ) from exc
    if parsed.tzinfo is None:
        raise ValidationFailed("end must include a time zone offset", field="end")
    return parsed.astimezone(UTC).isoformat()


def _desired_layer(session: Session, doc: Doc, schedule: Schedule) -> Doc:
    wanted = dict(doc)
    wanted["timezone"] = doc.get("timezone") or schedule.timezone
    wanted["members"] = [m.strip().lower() for m in doc.get("members", [])]
    wanted["restrictions"] = service.restrictions(doc.get("restrictions") or [])
    wanted["end"] = _normal_end(doc.get("end"))
    if wanted.get("start_date") is None and wanted.get("kind") == "ical":
        wanted.pop("start_date")
    return wanted


def _service_data(session: Session, wanted: Doc) -> Doc:
    data = {k: v for k, v in wanted.items() if k != "members"}
    if "members" in wanted:
        data["member_ids"] = _member_ids(session, wanted["members"])
    return data


def reconcile(session: Session, key: str, desired: Doc, new_keys: list[NewKey]) -> list[str]:
    """Create or update one schedule and its layers; return a line per change."""
    changes: list[str] = []
    try:
        schedule = service.schedule_named(session, key)
    except NotFound:
        schedule = service.create_schedule(
            session,
            name=desired["name"],
            description=desired["description"],
            timezone=desired["timezone"],
            team_id=_team_id(session, desired["team"]),
        )
        changes.append(f"create schedule {key!r}")
    else:
        fields: Doc = {}
        for name in ("name", "description", "timezone"):
            if getattr(schedule, name) != desired[name]:
                fields[name] = desired[name]
        if (schedule.team.name if schedule.team else None) != desired["team"]:
            fields["team_id"] = _team_id(session, desired["team"])
        if fields:
            service.update_schedule(session, schedule, fields)
            changes.append(f"update schedule {key!r}: {', '.join(sorted(fields))}")
    emails = _emails(session)
    existing = {layer.name.lower(): layer for layer in schedule.layers}
    listed = []
    for index, doc in enumerate(desired["layers"]):
        try:
            wanted = _desired_layer(session, doc, schedule)
            layer = existing.get(doc["name"].lower())
            if layer is None:
                layer = service.add_layer(session, schedule, _service_data(session, wanted))
                changes.append(f"create layer {doc['name']!r} of schedule {key!r}")
            else:
                now = _layer_doc(layer, emails)
                diff = {k: v for k, v in wanted.items() if now.get(k) != v}
                if diff:
                    service.update_layer(session, layer, _service_data(session, diff))
                    what = ", ".join(sorted(diff))
                    changes.append(f"update layer {doc['name']!r} of schedule {key!r}: {what}")
        except ValidationFailed as exc:
            raise ValidationFailed(
                exc.message, field=f"layers[{index}].{exc.field or 'name'}"
            ) from exc
        listed.append(layer.id)
    order = listed + [layer.id for layer in schedule.layers if layer.id not in listed]
    if [layer.id for layer in schedule.layers] != order:
        service.reorder_layers(session, schedule, order)
        changes.append(f"reorder layers of schedule {key!r}")
    return changes
