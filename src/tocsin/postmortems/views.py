"""Postmortem pages: the list (overdue first), a postmortem with its sections to edit, and
the incident page's Postmortem card (wired in `tocsin.wiring.build_cards`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team, User
from tocsin.db import utcnow
from tocsin.definitions import service as defs
from tocsin.deps import AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import DomainError, ValidationFailed
from tocsin.incidents import queries as incident_queries
from tocsin.incidents.models import Incident
from tocsin.postmortems import compare, queries, service, suggestions
from tocsin.postmortems.blameless import Suggestion
from tocsin.postmortems.models import Postmortem, PostmortemStatus
from tocsin.postmortems.policies import calendar_from
from tocsin.postmortems.review_views import review_context
from tocsin.validation import digits
from tocsin.web.actions import perform
from tocsin.web.forms import Form, local_datetime, local_day, optional_int, redirect, text
from tocsin.web.markdown import render_markdown
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100
FILTERS = ("open", "overdue", "published", "all")


def _url(postmortem: Postmortem) -> str:
    return f"/postmortems/{postmortem.id}"


@router.get("/postmortems")
def postmortem_list(request: Request, db: DbSession, user: CurrentUser) -> Response:
    params = request.query_params
    show = params.get("show", "open")
    show = show if show in FILTERS else "open"
    statuses = ["draft", "in_review"] if show == "open" else []

    def ids(name: str) -> list[int]:
        return [number for v in params.getlist(name) if (number := digits(v)) is not None]

    now = utcnow()
    error = None
    try:
        flt = incident_queries.IncidentFilter(
            severity_ids=ids("severity"),
            service_ids=ids("service"),
            team_ids=ids("team"),
            type_ids=ids("type"),
            since=local_day(params.get("since", ""), user.timezone),
            until=local_day(params.get("until", ""), user.timezone, end=True),
        )
        rows, total = queries.list_postmortems(
            db,
            viewer=user,
            now=now,
            statuses=statuses,
            overdue_only=show == "overdue",
            published=True if show == "published" else None,
            text=params.get("q", "")[:200],
            incidents=flt,
            limit=PAGE_SIZE,
        )
    except ValidationFailed as exc:
        rows, total, error = [], 0, exc.message
    return render(
        request,
        "postmortems/list.html",
        {
            "section": "postmortems",
            "postmortems": [(p, queries.due_at(p), queries.is_overdue(p, now)) for p in rows],
            "total": total,
            "show": show,
            "params": params,
            "error": error,
            "severities": defs.severities(db),
            "types": defs.incident_types(db),
            "services": db.scalars(select(Service).order_by(Service.name)).all(),
            "teams": db.scalars(select(Team).order_by(Team.name)).all(),
        },
        422 if error else 200,
    )


@dataclass(frozen=True)
class Preview:
    """A section's text rendered as it would be saved, and kept in its editor."""

    key: str
    body: str
    base_version: int
    html: Markup


def _page(
    request: Request,
    db: Session,
    postmortem: Postmortem,
    *,
    conflict: service.SectionConflict | None = None,
    preview: Preview | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    by_section: dict[str, list[Suggestion]] = {}
    for suggestion in suggestions.for_postmortem(db, postmortem):
        by_section.setdefault(suggestion.section_key, []).append(suggestion)
    people = db.scalars(
        select(User).where(User.active.is_(True), User.is_person).order_by(User.name)
    ).all()
    current = PostmortemStatus(postmortem.status)
    viewer = getattr(request.state, "user", None)  # the signed-in user, as `render` reads it
    return render(
        request,
        "postmortems/detail.html",
        {
            **review_context(db, postmortem, viewer.id if viewer is not None else 0),
            "section": "postmortems",
            "pm": postmortem,
            "incident": postmortem.incident,
            "labels": service.LABELS,
            "moves": sorted(service.TRANSITIONS[current], key=list(PostmortemStatus).index),
            "due_at": queries.due_at(postmortem),
            "overdue": queries.is_overdue(postmortem, now),
            "people": people,
            "conflict": conflict,
            "preview": preview,
            "suggestions": by_section,
        },
        status_code=status_code,
    )


@router.get("/postmortems/{postmortem_id}")
def postmortem_page(
    postmortem_id: int, request: Request, db: DbSession, user: CurrentUser
) -> Response:
    return _page(request, db, queries.get_postmortem(db, postmortem_id, viewer=user))


@router.post("/incidents/{ref}/postmortem")
def start(ref: str, db: DbSession, user: Responder, settings: AppSettings) -> Response:
    incident = incident_queries.get_incident(db, ref, viewer=user)
    postmortem = service.start(db, incident, by=user, calendar=calendar_from(settings))
    return redirect(_url(postmortem))


@router.post("/postmortems/{postmortem_id}/status")
def change_status(postmortem_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    return perform(
        db,
        _url(postmortem),
        lambda: service.change_status(
            db, postmortem, text(form, "status"), by=user, override=text(form, "override")
        ),
    )


@router.post("/postmortems/{postmortem_id}/details")
def edit_details(postmortem_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    """The owner, the meeting's time (in the user's time zone) and the recording link."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)

    def apply() -> None:
        service.assign_owner(db, postmortem, optional_int(form, "owner_id"), by=user)
        changes: dict[str, Any] = {
            "meeting_at": local_datetime(form, "meeting_at", user.timezone),
            "recording_url": text(form, "recording_url").strip(),
        }
        service.schedule(db, postmortem, changes, by=user)

    return perform(db, _url(postmortem), apply, notice="Saved.")


@router.post("/postmortems/{postmortem_id}/sections/{key}")
def save_section(
    postmortem_id: int, key: str, request: Request, db: DbSession, user: Responder, form: Form
) -> Response:
    """Save a section; when someone saved it since, the page again with both texts (409),
    your text still in the editor."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    back = f"{_url(postmortem)}#section-{key}"
    try:
        base = optional_int(form, "base_version") or 0
        service.save_section(db, postmortem, key, text(form, "body"), base, by=user)
    except service.SectionConflict as conflict:
        return _page(request, db, postmortem, conflict=conflict, status_code=409)
    except DomainError as exc:
        db.rollback()
        return redirect(back, error=exc.message)
    return redirect(back, notice="Saved.")


@router.post("/postmortems/{postmortem_id}/sections/{key}/preview")
def preview_section(
    postmortem_id: int, key: str, request: Request, db: DbSession, user: Responder, form: Form
) -> Response:
    """The page again with the section's text rendered (sanitized, as saved text is) and kept
    in the editor; nothing is saved."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    section = postmortem.section(key)
    if section is None:
        return redirect(_url(postmortem), error=f"the postmortem has no section {key!r}")
    body = text(form, "body")[: service.SECTION_MAX]
    base = optional_int(form, "base_version") or section.version
    shown = Preview(key, body, base, render_markdown(body, tables=True))
    return _page(request, db, postmortem, preview=shown)


@router.post("/postmortems/{postmortem_id}/suggestions/{suggestion_id}/dismiss")
def dismiss_suggestion(
    postmortem_id: int, suggestion_id: str, db: DbSession, user: Responder, form: Form
) -> Response:
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    key = text(form, "section")
    back = _url(postmortem) + (f"#section-{key}" if postmortem.section(key) else "")
    return perform(
        db,
        back,
        lambda: suggestions.dismiss(db, postmortem, suggestion_id, by=user),
        notice="Suggestion dismissed.",
    )


@router.get("/postmortems/{postmortem_id}/sections/{key}/revisions")
def section_revisions(
    postmortem_id: int,
    key: str,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    from_version: int | None = None,
    to_version: int | None = None,
) -> Response:
    """A section's revisions, newest first, and what changed between two of them (by default
    the two newest)."""
    postmortem = queries.get_postmortem(db, postmortem_id, viewer=user)
    revisions = queries.revisions(db, postmortem, key)
    versions = [r.version for r in revisions]
    new_v = to_version if to_version in versions else versions[0]
    older = [v for v in versions if v < new_v]
    old_v = from_version if from_version in versions else (older[0] if older else new_v)
    by_version = {r.version: r for r in revisions}
    old, new = by_version[old_v], by_version[new_v]
    section = postmortem.section(key)
    return render(
        request,
        "postmortems/revisions.html",
        {
            "section": "postmortems",
            "pm": postmortem,
            "incident": postmortem.incident,
            "pm_section": section,
            "revisions": revisions,
            "old": old,
            "new": new,
            "lines": compare.diff_lines(old.body, new.body),
        },
    )


def card_context(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    """The incident page's Postmortem card: a link and the next deadline, or a button to
    start one."""
    postmortem = service.for_incident(db, incident)
    if postmortem is None:
        return {"postmortem": None, "due_at": None, "overdue": False}
    return {
        "postmortem": postmortem,
        "status_label": service.LABELS[PostmortemStatus(postmortem.status)],
        "due_at": queries.due_at(postmortem),
        "overdue": queries.is_overdue(postmortem, utcnow()),
    }
