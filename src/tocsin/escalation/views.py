"""Pages for escalation policies and a service's paging settings, the paging actions on an
incident page (escalate, page someone, reassign, acknowledge the page), and the acknowledge and
resolve links in a page (`/act/{token}`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tocsin.catalog import permissions
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team, User
from tocsin.db import utcnow
from tocsin.deps import CurrentUser, DbSession, Responder
from tocsin.errors import DomainError, Forbidden
from tocsin.escalation import engine, links, policies
from tocsin.escalation.api import services_using
from tocsin.escalation.models import LowUrgency
from tocsin.escalation.windows import DAY_NAMES
from tocsin.findings import Checks
from tocsin.incidents import queries
from tocsin.incidents.access import name_for
from tocsin.incidents.models import Incident
from tocsin.notify.links import look_up
from tocsin.schedules.models import Schedule
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, int_list, optional_int, redirect, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

# The editor shows every level plus this many empty ones to add.
SPARE_LEVELS = 1


def _choices(db: Session) -> dict[str, Any]:
    return {
        "all_users": db.scalars(
            select(User).where(User.active, User.is_person).order_by(User.name)
        ).all(),
        "all_teams": db.scalars(select(Team).order_by(Team.name)).all(),
        "all_schedules": db.scalars(select(Schedule).order_by(Schedule.name)).all(),
        "day_names": DAY_NAMES,
    }


@router.get("/escalation-policies")
def policies_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    rows = [(p, services_using(db, p)) for p in policies.list_policies(db)]
    services = db.scalars(select(Service).order_by(Service.name)).all()
    paging = {s.id: policies.paging_for(db, s.id) for s in services}
    found: Checks = request.app.state.checks
    return render(
        request,
        "escalation/policies.html",
        {
            "section": "escalation",
            "rows": rows,
            "services": services,
            "paging": paging,
            "findings": found.run(db, utcnow()),
            "scope": permissions.scope(db, user),
        },
    )


def _window(form: FormData, prefix: str) -> dict[str, Any] | None:
    days = [d for d in form.getlist(f"{prefix}days") if isinstance(d, str) and d]
    start, end = text(form, f"{prefix}start").strip(), text(form, f"{prefix}end").strip()
    if not days and not start and not end:
        return None
    return {
        "days": days,
        "start": start,
        "end": end,
        "timezone": text(form, f"{prefix}timezone").strip() or "UTC",
    }


def levels_from_form(form: FormData) -> list[dict[str, Any]]:
    """The editor's level fieldsets, in the order of their position fields; a fieldset with no
    targets (the spare one, or one emptied) or marked for removal is left out."""
    count = optional_int(form, "level_count") or 0
    found: list[tuple[int, int, dict[str, Any]]] = []
    for index in range(min(count, policies.MAX_LEVELS + SPARE_LEVELS)):
        prefix = f"level-{index}-"
        targets = [{"kind": "user", "id": i} for i in int_list(form, f"{prefix}users")]
        targets += [{"kind": "schedule", "id": i} for i in int_list(form, f"{prefix}schedules")]
        targets += [{"kind": "team", "id": i} for i in int_list(form, f"{prefix}teams")]
        if checkbox(form, f"{prefix}remove") or not targets:
            continue
        level = {
            "delay_minutes": optional_int(form, f"{prefix}delay_minutes") or 15,
            "round_robin": checkbox(form, f"{prefix}round_robin"),
            "window": _window(form, f"{prefix}window_")
            if checkbox(form, f"{prefix}limited")
            else None,
            "targets": targets,
        }
        position = optional_int(form, f"{prefix}position")
        found.append((position if position is not None else index + 1, index, level))
    return [level for _, _, level in sorted(found, key=lambda item: (item[0], item[1]))]


def _policy_fields(form: FormData) -> dict[str, Any]:
    return {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "repeat": optional_int(form, "repeat") or 0,
        "team_id": optional_int(form, "team_id"),
        "levels": levels_from_form(form),
    }


def _editor(
    request: Request,
    db: Session,
    policy: Any,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    levels = policies.policy_as_data(policy) if policy is not None else []
    return render(
        request,
        "escalation/policy.html",
        {
            "section": "escalation",
            "policy": policy,
            "levels": levels,
            "spare": SPARE_LEVELS if levels else 1,
            "used_by": services_using(db, policy) if policy is not None else [],
            "scope": permissions.scope(db, request.state.user),
            "error": error,
            **_choices(db),
        },
        status,
    )


@router.get("/escalation-policies/new")
def new_policy_page(request: Request, db: DbSession, user: Responder) -> Response:
    return _editor(request, db, None)


@router.post("/escalation-policies")
def create_policy(request: Request, db: DbSession, user: Responder, form: Form) -> Response:
    try:
        policy = policies.create_policy(db, **_policy_fields(form), by=user)
    except Forbidden:
        raise  # the 403 page; the request's unit of work rolls back (web.actions.perform)
    except DomainError as exc:
        db.rollback()
        return _editor(request, db, None, error=exc.message, status=422)
    return redirect(f"/escalation-policies/{policy.id}", notice="Escalation policy created.")


@router.get("/escalation-policies/{policy_id}")
def policy_page(policy_id: int, request: Request, db: DbSession, user: CurrentUser) -> Response:
    return _editor(request, db, policies.get_policy(db, policy_id))


@router.post("/escalation-policies/{policy_id}")
def update_policy(
    policy_id: int, request: Request, db: DbSession, user: Responder, form: Form
) -> Response:
    policy = policies.get_policy(db, policy_id)
    try:
        policies.update_policy(db, policy, _policy_fields(form), by=user)
    except Forbidden:
        raise
    except DomainError as exc:
        db.rollback()
        return _editor(
            request, db, policies.get_policy(db, policy_id), error=exc.message, status=422
        )
    return redirect(f"/escalation-policies/{policy_id}", notice="Escalation policy saved.")


@router.post("/escalation-policies/{policy_id}/delete")
def delete_policy(policy_id: int, db: DbSession, user: Responder) -> Response:
    policy = policies.get_policy(db, policy_id)
    # On a refusal (services still use it) the list shows why, with those services.
    return perform(
        db,
        "/escalation-policies",
        lambda: policies.delete_policy(db, policy, by=user),
        notice="Escalation policy deleted.",
    )


# -- a service's paging ----------------------------------------------------------------------


@router.get("/services/{service_id}/paging")
def paging_page(service_id: int, request: Request, db: DbSession, user: CurrentUser) -> Response:
    service = catalog.get_service(db, service_id)
    return render(
        request,
        "escalation/paging.html",
        {
            "section": "escalation",
            "service": service,
            "paging": policies.paging_for(db, service.id),
            "all_policies": policies.list_policies(db),
            "can_change": permissions.scope(db, user).may_change(service.team_id),
            "modes": [m.value for m in LowUrgency],
            "day_names": DAY_NAMES,
        },
    )


@router.post("/services/{service_id}/paging")
def update_paging(service_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    service = catalog.get_service(db, service_id)
    return perform(
        db,
        f"/services/{service_id}/paging",
        lambda: policies.set_service_paging(
            db,
            service,
            policy_id=optional_int(form, "policy_id"),
            low_urgency=text(form, "low_urgency") or LowUrgency.notify.value,
            support_hours=_window(form, "hours_"),
            by=user,
        ),
        notice="Paging settings saved.",
    )


# -- on an incident ----------------------------------------------------------------------------


def _incident_back(ref: str) -> str:
    return f"/incidents/{ref}#paging"


@router.post("/incidents/{ref}/paging/escalate")
def escalate(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _incident_back(incident.reference),
        lambda: engine.escalate(
            db,
            incident,
            level=optional_int(form, "level") or 1,
            by=user,
            policy_id=optional_int(form, "policy_id"),
        ),
        notice="Escalated.",
    )


@router.post("/incidents/{ref}/paging/page")
def page_people(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _incident_back(incident.reference),
        lambda: engine.page_people(
            db,
            incident,
            by=user,
            user_ids=int_list(form, "user_ids"),
            team_ids=int_list(form, "team_ids"),
            message=text(form, "message"),
        ),
        notice="Paged.",
    )


@router.post("/incidents/{ref}/paging/reassign")
def reassign(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _incident_back(incident.reference),
        lambda: engine.reassign(db, incident, user_id=optional_int(form, "user_id") or 0, by=user),
        notice="Reassigned.",
    )


@router.post("/incidents/{ref}/paging/acknowledge")
def acknowledge(ref: str, db: DbSession, user: Responder) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _incident_back(incident.reference),
        lambda: engine.acknowledge_pages(db, incident, by=user),
        notice="Acknowledged: paging stopped.",
    )


# --- acknowledge / resolve links in a page ----------------------------------------------------


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _naming(db: Session, user: User, incident: Incident) -> dict[str, Any]:
    """How the page names the incident to the person paged: its codename alone when it is a
    private incident they are not a member of."""
    name = name_for(db, user, incident)
    return {"name": name, "outside": name != incident.reference}


@router.get("/act/{token}")
def action_link(token: str, request: Request, db: DbSession) -> Response:
    """Show what the link will do; never act on GET (mail scanners fetch links)."""
    state = look_up(db, token)
    context: dict[str, Any] = {"token": token, "state": state, "done": None, "result": None}
    if state.token is not None:
        context.update(_naming(db, state.token.user, state.token.incident))
    if state.token is not None and state.problem is None:
        context["done"] = links.already_done(
            state.token.incident, state.token.action, context["name"]
        )
    return _no_store(render(request, "escalation/act.html", context, state.status_code))


@router.post("/act/{token}")
def use_action_link(token: str, request: Request, db: DbSession) -> Response:
    """Acknowledge or resolve as the person the page was sent to; the link then stops working.

    No session or CSRF token here: the unguessable, single-use token is the credential, and
    only a POST from the confirmation page uses it."""
    state, message = links.use(db, token)
    context: dict[str, Any] = {"token": token, "state": state, "done": None, "result": message}
    if state.token is not None:
        context.update(_naming(db, state.token.user, state.token.incident))
    return _no_store(render(request, "escalation/act.html", context, state.status_code))
