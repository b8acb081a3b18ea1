"""The incident page's role forms: assign a role, remove a holder, hand over command."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from tocsin.deps import DbSession, Responder
from tocsin.incidents import queries, roles
from tocsin.incidents.models import Incident
from tocsin.web.actions import perform
from tocsin.web.forms import Form, optional_int, redirect

router = APIRouter(include_in_schema=False)


def _back(incident: Incident) -> str:
    return f"/incidents/{incident.reference}#roles"


def _warning(change: roles.RoleChange) -> str | None:
    return " ".join(change.warnings) or None


@router.post("/incidents/{ref}/roles")
def assign_role(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    user_id = optional_int(form, "user_id")
    if user_id is None:
        return redirect(_back(incident), error="Choose a person")
    return perform(
        db,
        _back(incident),
        lambda: roles.assign_role(
            db, incident, role_id=optional_int(form, "role_id") or 0, user_id=user_id, by=user
        ),
        warn=_warning,
    )


@router.post("/incidents/{ref}/roles/remove")
def remove_role_holder(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident),
        lambda: roles.unassign_role(
            db,
            incident,
            role_id=optional_int(form, "role_id") or 0,
            user_id=optional_int(form, "user_id") or 0,
            by=user,
        ),
    )


@router.post("/incidents/{ref}/command")
def hand_over_command(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident),
        lambda: roles.hand_over_command(
            db, incident, to_user_id=optional_int(form, "to_user_id") or 0, by=user
        ),
        notice="Command handed over.",
        warn=_warning,
    )
