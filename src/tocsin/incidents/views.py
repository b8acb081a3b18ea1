"""Incident pages: the list, declaring, the incident page and its forms, action items."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from tocsin.catalog.models import Service, Team, User
from tocsin.db import utcnow
from tocsin.definitions import service as defs
from tocsin.definitions.models import IncidentType, Phase
from tocsin.deps import CurrentUser, DbSession, Responder
from tocsin.errors import DomainError, ValidationFailed
from tocsin.incidents import access, actions, members, queries, response, service, updates
from tocsin.incidents.models import ActionKind, ActionStatus, Incident, Status
from tocsin.validation import digits
from tocsin.web import cards
from tocsin.web.actions import perform
from tocsin.web.forms import (
    Form,
    checkbox,
    int_list,
    local_datetime,
    local_day,
    optional_date,
    optional_int,
    redirect,
    safe_back,
    text,
    values,
)
from tocsin.web.templating import fmt_input_dt, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25


def _choices(db: DbSession) -> dict[str, Any]:
    return {
        "severities": defs.severities(db),
        "priorities": defs.priorities(db),
        "types": defs.incident_types(db),
        "services": db.scalars(select(Service).order_by(Service.name)).all(),
        "teams": db.scalars(select(Team).order_by(Team.name)).all(),
        "people": db.scalars(
            select(User).where(User.active.is_(True), User.is_person).order_by(User.name)
        ).all(),
        "statuses": [s.value for s in Status],
    }


def _custom_values(db: DbSession, itype: IncidentType | None, form: FormData) -> dict[str, Any]:
    """Custom field inputs are named cf_<key>; multi-selects repeat the name."""
    out: dict[str, Any] = {}
    for field in itype.fields if itype else []:
        name = f"cf_{field.key}"
        if field.kind == "multi_select":
            out[field.key] = [v for v in form.getlist(name) if isinstance(v, str)]
        elif field.kind == "boolean":
            out[field.key] = checkbox(form, name)
        else:
            out[field.key] = text(form, name)
    return out


@router.get("/")
def home(user: CurrentUser) -> Response:
    return RedirectResponse("/incidents", status_code=303)


@router.get("/incidents")
def incident_list(request: Request, db: DbSession, user: CurrentUser) -> Response:
    params = request.query_params
    page = max(1, digits(params.get("page", "1")) or 1)

    def ids(name: str) -> list[int]:
        return [number for v in params.getlist(name) if (number := digits(v)) is not None]

    error = None
    try:
        flt = queries.IncidentFilter(
            statuses=[s for s in params.getlist("status") if s],
            severity_ids=ids("severity"),
            service_ids=ids("service"),
            team_ids=ids("team"),
            type_ids=ids("type"),
            text=params.get("q", "")[:200],
            since=local_day(params.get("since", ""), user.timezone),
            until=local_day(params.get("until", ""), user.timezone, end=True),
            open_only=params.get("open") == "on",
            include_drills=params.get("drills", "on") == "on" or "drills" not in params,
        )
        if params.get("hide_drills") == "on":
            flt.include_drills = False
        rows, total = queries.search_incidents(
            db, flt, viewer=user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    except ValidationFailed as exc:
        rows, total, error = [], 0, exc.message
    query = [(k, v) for k, v in params.multi_items() if k != "page"]
    return render(
        request,
        "incidents/list.html",
        {
            **_choices(db),
            "incidents": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "params": params,
            "query": query,
            "error": error,
            "section": "incidents",
            "now": utcnow(),
            "timer_of": response.timer,
        },
        422 if error else 200,
    )


def _new_form(
    request: Request,
    db: DbSession,
    form: dict[str, Any],
    type_id: int | None,
    error: str | None = None,
    status: int = 200,
    focus: str = "title",
) -> Response:
    itype = db.get(IncidentType, type_id) if type_id else None
    fields = {f"cf_{f.key}" for f in itype.fields} if itype else set()
    # Values typed into another type's fields ride along hidden, for a switch back.
    kept = {
        name: value if isinstance(value, list) else [value]
        for name, value in form.items()
        if name.startswith("cf_") and name not in fields
    }
    return render(
        request,
        "incidents/new.html",
        {
            **_choices(db),
            "itype": itype,
            "form": form,
            "kept_fields": kept,
            "error": error,
            "focus": focus,
            "section": "declare",
        },
        status,
    )


def _type_defaults(form: dict[str, Any], old: IncidentType | None, new: IncidentType) -> None:
    """Bring the new type's defaults into a form that was filled in under `old`: its
    severity unless the person picked another than the old type's, and restricted (never
    unticked here: a restriction is lifted on purpose, not by changing the type)."""
    severity = form.get("severity_id", "")
    old_default = str(old.default_severity_id) if old and old.default_severity_id else ""
    if new.default_severity_id and severity in ("", old_default):
        form["severity_id"] = str(new.default_severity_id)
    if new.default_restricted:
        form["restricted"] = "on"


@router.get("/incidents/new")
def new_incident(request: Request, db: DbSession, user: Responder) -> Response:
    raw = request.query_params.get("type_id", "")
    type_id = digits(raw)
    form: dict[str, Any] = {"type_id": raw}
    itype = db.get(IncidentType, type_id) if type_id else None
    if itype:
        _type_defaults(form, None, itype)
    return _new_form(request, db, form, type_id)


@router.post("/incidents/new")
def change_type(request: Request, db: DbSession, user: Responder, form: Form) -> Response:
    """The declare form again for the type now chosen, with its fields and defaults, keeping
    everything already typed (the form's "Use this type" button; JavaScript presses it when
    the type changes). Nothing is written."""
    carried = values(form)
    carried.pop("csrf_token", None)
    raw, previous = text(form, "type_id"), text(form, "defaults_of")
    type_id = digits(raw)
    itype = db.get(IncidentType, type_id) if type_id else None
    if itype is not None:
        old_id = digits(previous)
        old = db.get(IncidentType, old_id) if old_id else None
        _type_defaults(carried, old, itype)
    return _new_form(request, db, carried, itype.id if itype else None, focus="type")


@router.post("/incidents")
def declare(request: Request, db: DbSession, user: Responder, form: Form) -> Response:
    type_id = None
    try:
        type_id = optional_int(form, "type_id")
        itype = db.get(IncidentType, type_id) if type_id else None
        incident = service.declare(
            db,
            by=user,
            title=text(form, "title"),
            description=text(form, "description"),
            type_id=type_id,
            severity_id=optional_int(form, "severity_id"),
            priority_id=optional_int(form, "priority_id"),
            service_ids=int_list(form, "service_ids"),
            customer_impact=text(form, "customer_impact"),
            custom_fields=_custom_values(db, itype, form),
            drill=checkbox(form, "drill"),
            restricted=checkbox(form, "restricted"),
            codename=text(form, "codename"),
            commander_id=optional_int(form, "commander_id"),
            started_at=local_datetime(form, "started_at", user.timezone),
            urgency=text(form, "urgency") or None,
        )
    except DomainError as exc:
        db.rollback()
        return _new_form(request, db, values(form), type_id, exc.message, 422)
    return RedirectResponse(f"/incidents/{incident.reference}", status_code=303)


def _page_context(
    db: DbSession, incident: Incident, request: Request, user: User
) -> dict[str, Any]:
    phase = request.query_params.get("phase", "")
    if phase not in [p.value for p in Phase]:
        phase = {
            "triggered": "investigating",
            "acknowledged": "investigating",
            "investigating": "identified",
            "identified": "monitoring",
            "monitoring": "resolved",
        }.get(incident.status, "resolved")
    key_only = request.query_params.get("key") == "1"
    itype = incident.incident_type
    holders: dict[int, list[User]] = {}
    for assignment in sorted(incident.role_assignments, key=lambda a: (a.assigned_at, a.id)):
        holders.setdefault(assignment.role_id, []).append(assignment.user)
    wanted = {r.id for r in itype.roles_to_fill} if itype else set()
    roles = defs.roles(db)
    transitions = sorted(
        service.TRANSITIONS[Status(incident.status)], key=lambda s: list(Status).index(s)
    )
    listed = members.members(db, incident)
    return {
        **_choices(db),
        "incident": incident,
        # An admin who is not a member is told their reading is recorded (queries.get_incident
        # recorded it).
        "admin_reading": access.admin_reading(db, user, incident),
        "members": listed,
        "member_ids": {m.user_id for m in listed},
        "can_manage_members": members.can_manage(incident, user),
        "timeline": queries.timeline(db, incident, key_only=key_only),
        "key_only": key_only,
        "roles": roles,
        "holders": holders,
        "wanted_roles": wanted,
        # Filled roles are listed; the empty ones wait behind "Assign a role".
        "filled_roles": [r for r in roles if r.id in holders],
        "needed_roles": [r for r in roles if r.id in wanted and r.id not in holders],
        "transitions": transitions,
        # The status control moves along the lifecycle; resolving asks for its summary
        # (the resolve page or dialog) and closing has its own button.
        "status_choices": [s for s in transitions if s not in (Status.resolved, Status.closed)],
        "can_resolve": Status.resolved in transitions,
        "can_close": Status.closed in transitions,
        "resolve_form": {},
        "phase": phase,
        "phases": [p.value for p in Phase],
        # {next_update} stays for post_update: the author picks the time in the same form.
        "template_body": updates.render_template(db, incident, phase, keep_next_update=True),
        "fields": itype.fields if itype else [],
        "action_statuses": [s.value for s in ActionStatus],
        "action_kinds": [k.value for k in ActionKind],
        "today": utcnow().date(),
        "now": utcnow(),
        "timer_of": response.timer,
        "section": "incidents",
        # Other domains' cards (tocsin.wiring): the side column (paging, communication,
        # status pages), the main column (alerts) and the resolve form (telling customers).
        **cards.for_page(request, cards.INCIDENT, db, incident),
        **cards.for_page(request, cards.INCIDENT_MAIN, db, incident, key="main_cards"),
        **cards.for_page(request, cards.INCIDENT_ROLES, db, incident, key="role_cards"),
        **cards.for_page(request, cards.INCIDENT_RESOLVE, db, incident, key="resolve_cards"),
        **cards.for_page(
            request, cards.ACTION_ITEMS, db, list(incident.action_items), key="item_cards"
        ),
    }


@router.get("/incidents/{ref}")
def incident_page(ref: str, request: Request, db: DbSession, user: CurrentUser) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return render(request, "incidents/detail.html", _page_context(db, incident, request, user))


@router.post("/incidents/{ref}/members")
def add_member(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)

    def apply() -> None:
        user_id = optional_int(form, "user_id")
        if user_id is None:
            raise ValidationFailed("choose a person to add", field="user_id")
        members.add_member(db, incident, user_id=user_id, by=user)

    return perform(db, _back(incident) + "#members", apply, notice="Member added.")


@router.post("/incidents/{ref}/members/{user_id}/remove")
def remove_member(ref: str, user_id: int, db: DbSession, user: Responder) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident) + "#members",
        lambda: members.remove_member(db, incident, user_id=user_id, by=user),
        notice="Member removed.",
    )


@router.get("/incidents/{ref}/template")
def template_body(ref: str, db: DbSession, user: CurrentUser, phase: str) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    body = updates.render_template(db, incident, phase, keep_next_update=True)
    return JSONResponse({"phase": phase, "body": body})


def _back(incident: Incident) -> str:
    return f"/incidents/{incident.reference}"


@router.post("/incidents/{ref}/status")
def change_status(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    target = text(form, "status")
    # Acknowledging also stops paging: escalation reacts to the status change.
    return perform(
        db, _back(incident), lambda: service.change_status(db, incident, target, by=user)
    )


@router.post("/incidents/{ref}/severity")
def change_severity(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident),
        lambda: service.edit(
            db, incident, {"severity_id": optional_int(form, "severity_id")}, by=user
        ),
    )


def _resolve_page(
    request: Request,
    db: DbSession,
    incident: Incident,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "incidents/resolve.html",
        {
            "incident": incident,
            **cards.for_page(request, cards.INCIDENT_RESOLVE, db, incident, key="resolve_cards"),
            "resolve_form": form or {},
            "error": error,
            "section": "incidents",
        },
        status,
    )


@router.get("/incidents/{ref}/resolve")
def resolve_page(ref: str, request: Request, db: DbSession, user: Responder) -> Response:
    """Resolving, as a small page (the incident page opens the same form in a dialog)."""
    return _resolve_page(request, db, queries.get_incident(db, ref, viewer=user))


@router.post("/incidents/{ref}/resolve")
def resolve(ref: str, request: Request, db: DbSession, user: Responder, form: Form) -> Response:
    """Resolve with the resolution summary, and do what the form's cards were asked (where
    the incident is on a status page, the Resolved update for customers), all in one
    transaction: everything happens or nothing does."""
    incident = queries.get_incident(db, ref, viewer=user)
    try:
        then = cards.submit(request, cards.INCIDENT_RESOLVE, db, incident, form)
        service.resolve(db, incident, by=user, summary=text(form, "summary"))
        said = [done(user) for done in then]
    except DomainError as exc:
        db.rollback()
        return _resolve_page(request, db, incident, values(form), exc.message, 422)
    notice = " ".join([f"{incident.reference} resolved.", *filter(None, said)])
    return redirect(_back(incident), notice=notice)


@router.post("/incidents/{ref}/reopen")
def reopen(ref: str, db: DbSession, user: Responder) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(db, _back(incident), lambda: service.reopen(db, incident, by=user))


@router.post("/incidents/{ref}/notes")
def add_note(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident) + "#timeline",
        lambda: service.add_note(
            db,
            incident,
            text(form, "body"),
            by=user,
            occurred_at=local_datetime(form, "occurred_at", user.timezone),
            key_event=checkbox(form, "key_event"),
        ),
    )


@router.post("/incidents/{ref}/timeline/{entry_id}/key")
def toggle_key(ref: str, entry_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident) + "#timeline",
        lambda: service.set_key_event(
            db, incident, entry_id, checkbox(form, "is_key_event"), by=user
        ),
    )


@router.post("/incidents/{ref}/updates")
def post_update(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident),
        lambda: updates.post_update(
            db,
            incident,
            phase=text(form, "phase"),
            body=text(form, "body"),
            visibility=text(form, "visibility") or "internal",
            next_update_at=local_datetime(form, "next_update_at", user.timezone),
            by=user,
        ),
        notice="Update posted.",
    )


@router.post("/incidents/{ref}/updates/preview")
def preview_update(
    ref: str, request: Request, db: DbSession, user: Responder, form: Form
) -> Response:
    """The update as it will be posted (placeholders filled, Markdown rendered); writes nothing."""
    incident = queries.get_incident(db, ref, viewer=user)
    error = None
    draft = None
    try:
        draft = updates.check_update(
            incident,
            phase=text(form, "phase"),
            body=text(form, "body"),
            visibility=text(form, "visibility") or "internal",
            next_update_at=local_datetime(form, "next_update_at", user.timezone),
            by=user,
        )
    except DomainError as exc:
        error = exc.message
    return render(
        request,
        "incidents/update_preview.html",
        {
            "incident": incident,
            "draft": draft,
            "error": error,
            "form": values(form),
            "phases": [p.value for p in Phase],
            "section": "incidents",
        },
        422 if error else 200,
    )


@router.post("/incidents/{ref}/edit")
def edit(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)

    def apply() -> None:
        type_id = optional_int(form, "type_id")
        itype = db.get(IncidentType, type_id) if type_id else None
        links = []
        for line in text(form, "links").splitlines():
            if line.strip():
                title, _, url = line.rpartition(" ")
                links.append({"title": title.strip() or url, "url": url.strip()})
        changes: dict[str, Any] = {
            "title": text(form, "title"),
            "description": text(form, "description"),
            "customer_impact": text(form, "customer_impact"),
            "type_id": type_id,
            "severity_id": optional_int(form, "severity_id"),
            "priority_id": optional_int(form, "priority_id"),
            "service_ids": int_list(form, "service_ids"),
            "links": links,
            "drill": checkbox(form, "drill"),
            "restricted": checkbox(form, "restricted"),
            "codename": text(form, "codename"),
            "custom_fields": _custom_values(db, itype, form),
        }
        if "resolution_summary" in form:  # shown once the incident is resolved
            changes["resolution_summary"] = text(form, "resolution_summary")
        service.edit(db, incident, changes, by=user)

    return perform(db, _back(incident), apply, notice="Incident saved.")


@router.post("/incidents/{ref}/timestamps")
def timestamps(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    # The inputs have minute precision: only fields the user actually changed are saved.
    changed = {
        name: local_datetime(form, name, user.timezone)
        for name in service.TIMESTAMP_FIELDS
        if name in form and text(form, name) != fmt_input_dt(getattr(incident, name), user.timezone)
    }
    if not changed:
        return perform(db, _back(incident), lambda: None, notice="Nothing changed.")
    return perform(
        db,
        _back(incident),
        lambda: service.edit_timestamps(db, incident, changed, by=user),
        notice="Timestamps saved.",
    )


@router.post("/incidents/{ref}/action-items")
def add_action_item(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident) + "#action-items",
        lambda: actions.add_action_item(
            db,
            incident,
            title=text(form, "title"),
            description=text(form, "description"),
            assignee_id=optional_int(form, "assignee_id"),
            due_date=optional_date(form, "due_date"),
            kind=text(form, "kind") or "incident",
            priority=text(form, "priority") or "medium",
            tags=_tag_list(text(form, "tags")),
            by=user,
        ),
    )


def _tag_list(value: str) -> list[str]:
    """Tags typed in one field, separated by commas or spaces."""
    return [t for t in re.split(r"[,\s]+", value) if t]


@router.post("/action-items/{item_id}")
def update_action_item(item_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    item = queries.get_action_item(db, item_id, viewer=user)
    back = safe_back(text(form, "back"), _back(item.incident) + "#action-items")

    def apply() -> None:
        changes: dict[str, Any] = {
            n: text(form, n) for n in ("status", "kind", "title", "priority") if n in form
        }
        if "tags" in form:
            changes["tags"] = _tag_list(text(form, "tags"))
        if "assignee_id" in form:
            changes["assignee_id"] = optional_int(form, "assignee_id")
        actions.update_action_item(db, item, changes, by=user)

    return perform(db, back, apply, notice="Action item saved.")


@router.get("/action-items")
def action_items_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    show = request.query_params.get("show", "open")
    today = utcnow().date()
    rows, total = queries.action_items(
        db,
        viewer=user,
        assignee_id=user.id if show == "mine" else None,
        overdue_on=today if show == "overdue" else None,
        open_only=show in ("open", "mine", "follow_up"),
        kind="follow_up" if show == "follow_up" else None,
    )
    return render(
        request,
        "incidents/action_items.html",
        {
            "items": rows,
            "total": total,
            "show": show,
            "today": today,
            "action_statuses": [s.value for s in ActionStatus],
            "section": "action-items",
        },
    )
