"""The publishing composer on the incident page: its card, the preview and publishing.

The card (`templates/statuspages/_composer.html`, included by the incident page) has one
form per status page: public title, phase, body pre-filled from the phase's template, impact,
the page's components with their new status, and "notify subscribers". Preview renders the
page as it would look, server-side (no JavaScript needed); Publish posts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tocsin.catalog.models import User
from tocsin.deps import AppSettings, DbSession, Responder
from tocsin.errors import DomainError
from tocsin.incidents import queries
from tocsin.incidents.models import Incident
from tocsin.incidents.updates import render_template
from tocsin.statuspages import publish, service
from tocsin.statuspages.models import ComponentStatus, IncidentPhase, StatusPage
from tocsin.statuspages.present import STATUS_LABELS, load_page_view
from tocsin.statuspages.render import page_context
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, redirect, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
NEXT_PHASE = {
    "investigating": "identified",
    "identified": "monitoring",
    "monitoring": "resolved",
    "resolved": "resolved",
}
IMPACT_CHOICES = [
    ("auto", "From the components"),
    ("none", "None"),
    ("minor", "Minor"),
    ("major", "Major"),
    ("critical", "Critical"),
]


def _form_for(
    db: Session, incident: Incident, page: StatusPage, phase_asked: str
) -> dict[str, Any]:
    existing = publish.page_incident_for(db, page, incident)
    phase = phase_asked
    if phase not in [p.value for p in IncidentPhase]:
        phase = NEXT_PHASE.get(existing.status, "identified") if existing else "investigating"
    linked = {s.id for s in incident.services}
    components = []
    for component in page.components:
        is_linked = component.service_id in linked
        suggested = ""
        if is_linked and existing is None and component.status == "operational":
            suggested = "partial_outage"
        components.append({"component": component, "linked": is_linked, "selected": suggested})
    components.sort(key=lambda c: not c["linked"])  # the incident's own services first
    return {
        "page": page,
        "existing": existing,
        "name": existing.name if existing else incident.title,
        "phase": phase,
        "body": render_template(db, incident, phase),
        "impact": "auto",
        "components": components,
        "notify": True,
    }


def composer_panel(db: Session, incident: Incident, request: Request) -> dict[str, Any]:
    """The incident page's status page card."""
    pages = service.list_pages(db)
    refusal = publish.refusal(incident)
    phase = request.query_params.get("sp_phase", "")
    return {
        "refusal": refusal,
        "published": publish.published_on(db, incident),
        "forms": [] if refusal else [_form_for(db, incident, p, phase) for p in pages],
        "has_pages": bool(pages),
        "phases": [p.value for p in IncidentPhase],
        "statuses": [s.value for s in ComponentStatus],
        "labels": STATUS_LABELS,
        "impacts": IMPACT_CHOICES,
    }


def resolve_offers(db: Session, incident: Incident) -> list[dict[str, Any]]:
    """What the resolve dialog offers: for each status page the incident is shown on and not
    yet resolved there, the Resolved update to tell customers (from the Resolved template)."""
    if publish.refusal(incident):
        return []
    body = render_template(db, incident, IncidentPhase.resolved.value)
    return [
        {"page": pi.page, "existing": pi, "body": body, "name": pi.name}
        for pi in publish.published_on(db, incident)
        if pi.status != IncidentPhase.resolved.value
    ]


def resolve_drafts(db: Session, incident: Incident, form: FormData) -> list[publish.Draft]:
    """The Resolved updates the resolve form asks for (`tell_<page id>` ticked, with
    `body_<page id>` and `notify_<page id>`), checked; nothing is written."""
    drafts = []
    for offer in resolve_offers(db, incident):
        page = offer["page"]
        if checkbox(form, f"tell_{page.id}"):
            drafts.append(
                publish.check(
                    db,
                    page,
                    incident,
                    phase=IncidentPhase.resolved.value,
                    body=text(form, f"body_{page.id}"),
                    deliver_notifications=checkbox(form, f"notify_{page.id}"),
                )
            )
    return drafts


def resolve_card(db: Session, incident: Incident, request: Any) -> list[dict[str, Any]]:
    """The resolve form's card: the Resolved updates it offers (none once it may not be
    resolved)."""
    return resolve_offers(db, incident) if incident.is_open else []


def resolve_submit(db: Session, incident: Incident, form: FormData) -> Callable[[User], str] | None:
    """The resolve form's part for status pages: the Resolved updates it asks for, checked
    now; published once the incident is resolved (the caller's transaction)."""
    drafts = resolve_drafts(db, incident, form)
    if not drafts:
        return None

    def publish_all(by: User) -> str:
        for draft in drafts:
            publish.publish(db, draft, by=by)
        return f"Customers told on {', '.join(d.page.name for d in drafts)}."

    return publish_all


def _components(form: FormData, page: StatusPage) -> dict[int, str]:
    chosen = {}
    for component in page.components:
        value = text(form, f"component_{component.id}").strip()
        if value:
            chosen[component.id] = value
    return chosen


def _draft(db: Session, page: StatusPage, incident: Incident, form: FormData) -> publish.Draft:
    return publish.check(
        db,
        page,
        incident,
        phase=text(form, "phase"),
        body=text(form, "body"),
        name=text(form, "name"),
        impact=text(form, "impact") or "auto",
        components=_components(form, page),
        deliver_notifications=checkbox(form, "deliver_notifications"),
    )


def _back(incident: Incident) -> str:
    return f"/incidents/{incident.reference}#statuspage-composer"


@router.post("/incidents/{ref}/status-pages/{page_id}/preview")
def preview(
    ref: str,
    page_id: int,
    request: Request,
    db: DbSession,
    user: Responder,
    settings: AppSettings,
    form: Form,
) -> Response:
    """How the page will look once published; nothing is written."""
    incident = queries.get_incident(db, ref, viewer=user)
    page = service.get_page(db, page_id)
    try:
        draft = _draft(db, page, incident, form)
    except DomainError as exc:
        db.rollback()
        return redirect(_back(incident), error=exc.message)
    # What was asked, before the preview applies the new statuses to the components.
    chosen = _components(form, page)
    view, shown = publish.preview(draft, load_page_view(db, page, settings.base_url))
    context = page_context(view, base_url=settings.base_url)
    return render(
        request,
        "statuspages/composer_preview.html",
        {
            **context,
            "root": f"/status-pages/{page.id}/preview/",
            "incident": incident,
            "draft": draft,
            "shown": shown,
            "form_components_selected": [
                {"component": c, "linked": False, "selected": chosen.get(c.id, "")}
                for c in page.components
            ],
            "statuses": [s.value for s in ComponentStatus],
            "phases": [p.value for p in IncidentPhase],
            "impacts": IMPACT_CHOICES,
            "page_id": page.id,
            "page_name": page.name,
        },
    )


@router.post("/incidents/{ref}/status-pages/{page_id}/publish")
def publish_update(ref: str, page_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    page = service.get_page(db, page_id)
    return perform(
        db,
        _back(incident),
        lambda: publish.publish(db, _draft(db, page, incident, form), by=user),
        notice=f"Published on {page.name}.",
    )
