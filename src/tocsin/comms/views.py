"""HTML routes: the channel registry under Settings (admins edit, everyone reads), the forms
of a service page's Followers card and of the incident page's Communication card."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service
from tocsin.comms import followers, stakeholders
from tocsin.comms import service as registry
from tocsin.comms.models import Audience, ChannelKind, Impact
from tocsin.comms.rules import conditions_text, posters_text
from tocsin.comms.sending import mark_posted, send_latest
from tocsin.definitions import service as defs
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import DomainError
from tocsin.incidents import queries
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, optional_int, redirect, text, values
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
BACK = "/settings/comms"


# --- the registry -----------------------------------------------------------------------


def _channel_form(form: FormData) -> dict[str, Any]:
    """A channel form as service data; unticked boxes and empty lists are sent as such."""

    def names(name: str) -> list[str]:
        return [v for v in form.getlist(name) if isinstance(v, str) and v.strip()]

    return {
        "name": text(form, "name"),
        "kind": text(form, "kind"),
        "audience": text(form, "audience") or "internal",
        "target": text(form, "target"),
        "description": text(form, "description"),
        "instructions": text(form, "instructions"),
        "automatic": checkbox(form, "automatic"),
        "paused": checkbox(form, "paused"),
        "severities": names("severities"),
        "services": names("services"),
        "customer_impact": text(form, "customer_impact") or "any",
        "include_restricted": checkbox(form, "include_restricted"),
        "post_user_roles": names("post_user_roles"),
        "post_incident_roles": names("post_incident_roles"),
        "cadence_minutes": optional_int(form, "cadence_minutes"),
        "position": optional_int(form, "position") or 0,
    }


def _page(
    request: Request,
    db: Session,
    *,
    secret: str | None = None,
    secret_for: str = "",
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    channels = registry.list_channels(db)
    context = {
        "section": "comms",
        "channels": channels,
        "shown": {c.id: registry.display_target(c) for c in channels},
        "posters": {c.id: posters_text(c) for c in channels},
        "conditions": {c.id: conditions_text(c) for c in channels},
        "kinds": [k.value for k in ChannelKind],
        "audiences": [a.value for a in Audience],
        "impacts": [i.value for i in Impact],
        "severities": defs.severities(db),
        "services": db.scalars(select(Service).order_by(Service.name)).all(),
        "roles": defs.roles(db),
        "secret": secret,
        "secret_for": secret_for,
        "error": error,
        "form": form or {},
    }
    response = render(request, "settings/comms.html", context, status)
    response.headers["Cache-Control"] = "no-store"  # a signing secret may be on it
    return response


@router.get("/settings/comms")
def channels_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return _page(request, db)


@router.post("/settings/comms")
def create_channel(
    request: Request, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    try:
        channel, secret = registry.create_channel(db, _channel_form(form), settings=settings)
    except DomainError as exc:
        db.rollback()
        return _page(request, db, error=exc.message, form=values(form), status=422)
    if secret is not None:
        return _page(request, db, secret=secret, secret_for=channel.name, status=201)
    return redirect(BACK, notice=f"Channel {channel.name} added.")


@router.post("/settings/comms/{channel_id}")
def update_channel(
    channel_id: int, db: DbSession, admin: Admin, settings: AppSettings, form: Form
) -> Response:
    channel = registry.get_channel(db, channel_id)
    return perform(
        db,
        BACK,
        lambda: registry.update_channel(db, channel, _channel_form(form), settings=settings),
        notice="Channel saved.",
    )


@router.post("/settings/comms/{channel_id}/delete")
def delete_channel(channel_id: int, db: DbSession, admin: Admin) -> Response:
    channel = registry.get_channel(db, channel_id)
    return perform(
        db, BACK, lambda: registry.delete_channel(db, channel), notice="Channel deleted."
    )


@router.post("/settings/comms/{channel_id}/rotate-secret")
def rotate_secret(
    channel_id: int, request: Request, db: DbSession, admin: Admin, settings: AppSettings
) -> Response:
    channel = registry.get_channel(db, channel_id)
    secret = registry.rotate_secret(db, channel, settings=settings)
    return _page(request, db, secret=secret, secret_for=channel.name)


# --- a service page's Followers card --------------------------------------------------------


def _service_back(service: Service) -> str:
    return f"/services/{service.id}#followers"


@router.post("/services/{service_id}/follow")
def follow_service(service_id: int, db: DbSession, user: CurrentUser) -> Response:
    service = catalog.get_service(db, service_id)
    return perform(
        db,
        _service_back(service),
        lambda: followers.follow_service(db, service, by=user),
        notice=f"You follow {service.name}: you will be a stakeholder of its incidents.",
    )


@router.post("/services/{service_id}/unfollow")
def unfollow_service(service_id: int, db: DbSession, user: CurrentUser) -> Response:
    service = catalog.get_service(db, service_id)
    return perform(
        db,
        _service_back(service),
        lambda: followers.unfollow_service(db, service, by=user),
        notice=f"You no longer follow {service.name}.",
    )


@router.post("/services/{service_id}/followers")
def add_follower(service_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    service = catalog.get_service(db, service_id)
    return perform(
        db,
        _service_back(service),
        lambda: followers.add_follower(
            db,
            service,
            by=user,
            user_id=optional_int(form, "user_id"),
            team_id=optional_int(form, "team_id"),
        ),
        notice="Follower added.",
    )


@router.post("/services/{service_id}/followers/{follower_id}/delete")
def remove_follower(
    service_id: int, follower_id: int, db: DbSession, user: CurrentUser
) -> Response:
    service = catalog.get_service(db, service_id)
    return perform(
        db,
        _service_back(service),
        lambda: followers.remove_follower(db, service, follower_id, by=user),
        notice="Follower removed.",
    )


# --- the incident page's card -------------------------------------------------------------


def _back(ref: str) -> str:
    return f"/incidents/{ref}#communication"


@router.post("/incidents/{ref}/follow")
def follow(ref: str, db: DbSession, user: CurrentUser) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident.reference),
        lambda: stakeholders.follow(db, incident, by=user),
        notice=f"You follow {incident.reference}: its internal updates will reach you.",
    )


@router.post("/incidents/{ref}/unfollow")
def unfollow(ref: str, db: DbSession, user: CurrentUser) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident.reference),
        lambda: stakeholders.unfollow(db, incident, by=user),
        notice=f"You no longer follow {incident.reference}.",
    )


@router.post("/incidents/{ref}/stakeholders")
def add_stakeholder(ref: str, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident.reference),
        lambda: stakeholders.add(
            db,
            incident,
            by=user,
            user_id=optional_int(form, "user_id"),
            team_id=optional_int(form, "team_id"),
        ),
        notice="Stakeholder added.",
    )


@router.post("/incidents/{ref}/stakeholders/{stakeholder_id}/delete")
def remove_stakeholder(ref: str, stakeholder_id: int, db: DbSession, user: CurrentUser) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    return perform(
        db,
        _back(incident.reference),
        lambda: stakeholders.remove(db, incident, stakeholder_id, by=user),
        notice="Stakeholder removed.",
    )


@router.post("/incidents/{ref}/communication/{channel_id}/posted")
def posted(ref: str, channel_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    channel = registry.get_channel(db, channel_id)
    return perform(
        db,
        _back(incident.reference),
        lambda: mark_posted(db, incident, channel, by=user, note=text(form, "note")),
        notice=f"Marked as posted to {channel.name}.",
    )


@router.post("/incidents/{ref}/communication/{channel_id}/send")
def send(ref: str, channel_id: int, db: DbSession, user: Responder) -> Response:
    incident = queries.get_incident(db, ref, viewer=user)
    channel = registry.get_channel(db, channel_id)
    return perform(
        db,
        _back(incident.reference),
        lambda: send_latest(db, incident, channel, by=user),
        notice=f"Sending the latest {channel.audience} update to {channel.name}.",
    )
