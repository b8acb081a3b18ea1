"""HTML routes: a person's notification settings (the links in pages are escalation's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.deps import AppSettings, CurrentUser, DbSession
from tocsin.errors import DomainError, NotFound
from tocsin.incidents.access import can_see, outside_name
from tocsin.notify import methods, shifts
from tocsin.notify.models import URGENCIES, ContactKind, ContactMethod
from tocsin.notify.service import contact_methods, notifications_of_user
from tocsin.schedules.views import upcoming_context
from tocsin.web import cards
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, optional_int, text, values
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# --- a person's notification settings -----------------------------------------------------


@router.get("/me/notifications")
def my_notifications(user: CurrentUser) -> Response:
    return RedirectResponse(f"/users/{user.id}/notifications", status_code=303)


def _owner(db: Session, user_id: int, by: User) -> User:
    owner = catalog.get_user(db, user_id)
    methods.check_can_manage(by, owner)
    return owner


def _page(
    request: Request,
    db: Session,
    owner: User,
    *,
    secret: str | None = None,
    secret_for: str = "",
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    own = contact_methods(db, owner)
    recent = notifications_of_user(db, owner, limit=30)
    context = {
        "section": "notifications",
        "owner": owner,
        "methods": own,
        "shown": {m.id: methods.display_target(m) for m in own},
        "rules": methods.rules_of(db, owner),
        "urgencies": URGENCIES,
        "kinds": [k.value for k in ContactKind],
        "recent": recent,
        # Pages for private incidents the person is not a member of: named by codename only.
        "outside": {
            n.incident_id: outside_name(n.incident)
            for n in recent
            if n.incident is not None and not can_see(db, owner, n.incident)
        },
        "upcoming": upcoming_context(db, owner, utcnow()),
        "secret": secret,
        "secret_for": secret_for,
        "error": error,
        "form": form or {},
        "shift_pref": shifts.preference(db, owner),
        "shift_notices": shifts.notices_of_user(db, owner, limit=20),
        # Services followed: communication's card (tocsin.wiring).
        **cards.for_page(request, cards.USER_NOTIFICATIONS, db, owner),
    }
    return _no_store(render(request, "notify/user.html", context, status))


@router.get("/users/{user_id}/notifications")
def notifications_page(
    user_id: int, request: Request, db: DbSession, user: CurrentUser
) -> Response:
    return _page(request, db, _owner(db, user_id, user))


def _back(user_id: int) -> str:
    return f"/users/{user_id}/notifications"


@router.post("/users/{user_id}/contact-methods")
def add_contact_method(
    user_id: int,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    form: Form,
) -> Response:
    owner = _owner(db, user_id, user)
    try:
        method, secret = methods.create_contact_method(
            db,
            owner,
            by=user,
            settings=settings,
            kind=text(form, "kind"),
            target=text(form, "target"),
            label=text(form, "label"),
        )
    except DomainError as exc:
        db.rollback()
        return _page(request, db, owner, error=exc.message, form=values(form), status=422)
    if secret is not None:
        return _page(request, db, owner, secret=secret, secret_for=method.label, status=201)
    return RedirectResponse(_back(user_id), status_code=303)


@router.post("/users/{user_id}/contact-methods/{method_id}")
def edit_contact_method(
    user_id: int,
    method_id: int,
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    form: Form,
) -> Response:
    changes = {
        "label": text(form, "label"),
        "target": text(form, "target"),
        "enabled": checkbox(form, "enabled"),
    }
    return perform(
        db,
        _back(user_id),
        lambda: methods.update_contact_method(
            db, _method(db, user_id, method_id), changes, by=user, settings=settings
        ),
        notice="Contact method saved.",
    )


def _method(db: Session, user_id: int, method_id: int) -> ContactMethod:
    method = methods.get_contact_method(db, method_id)
    if method.user_id != user_id:
        raise NotFound(f"contact method {method_id} not found")
    return method


@router.post("/users/{user_id}/contact-methods/{method_id}/delete")
def delete_contact_method(
    user_id: int, method_id: int, db: DbSession, user: CurrentUser
) -> Response:
    return perform(
        db,
        _back(user_id),
        lambda: methods.delete_contact_method(db, _method(db, user_id, method_id), by=user),
        notice="Contact method deleted (with the rules that used it).",
    )


@router.post("/users/{user_id}/contact-methods/{method_id}/test")
def test_contact_method(user_id: int, method_id: int, db: DbSession, user: CurrentUser) -> Response:
    return perform(
        db,
        _back(user_id),
        lambda: methods.request_test(db, _method(db, user_id, method_id), by=user),
        notice="Test notification queued; reload in a few seconds to see the result.",
    )


@router.post("/users/{user_id}/contact-methods/{method_id}/rotate-secret")
def rotate_secret(
    user_id: int,
    method_id: int,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
) -> Response:
    owner = _owner(db, user_id, user)
    try:
        method = _method(db, user_id, method_id)
        secret = methods.rotate_webhook_secret(db, method, by=user, settings=settings)
    except DomainError as exc:
        db.rollback()
        return _page(request, db, owner, error=exc.message, status=422)
    return _page(request, db, owner, secret=secret, secret_for=method.label)


def _rule_fields(form: Any) -> dict[str, Any]:
    return {
        "urgency": text(form, "urgency"),
        "contact_method_id": optional_int(form, "contact_method_id"),
        "delay_minutes": optional_int(form, "delay_minutes") or 0,
        "position": optional_int(form, "position"),
    }


@router.post("/users/{user_id}/rules")
def add_rule(user_id: int, db: DbSession, user: CurrentUser, form: Form) -> Response:
    def create() -> None:
        owner = _owner(db, user_id, user)
        methods.create_rule(db, owner, by=user, **_rule_fields(form))

    return perform(db, _back(user_id), create, notice="Rule added.")


@router.post("/users/{user_id}/rules/{rule_id}")
def edit_rule(user_id: int, rule_id: int, db: DbSession, user: CurrentUser, form: Form) -> Response:
    def change() -> None:
        rule = methods.get_rule(db, rule_id)
        if rule.user_id != user_id:
            raise NotFound(f"notification rule {rule_id} not found")
        fields = _rule_fields(form)
        if fields["position"] is None:
            fields.pop("position")
        methods.update_rule(db, rule, fields, by=user)

    return perform(db, _back(user_id), change, notice="Rule saved.")


@router.post("/users/{user_id}/rules/{rule_id}/delete")
def delete_rule(user_id: int, rule_id: int, db: DbSession, user: CurrentUser) -> Response:
    def remove() -> None:
        rule = methods.get_rule(db, rule_id)
        if rule.user_id != user_id:
            raise NotFound(f"notification rule {rule_id} not found")
        methods.delete_rule(db, rule, by=user)

    return perform(db, _back(user_id), remove, notice="Rule deleted.")


@router.post("/users/{user_id}/shift-notifications")
def update_shift_notifications(
    user_id: int, db: DbSession, user: CurrentUser, form: Form
) -> Response:
    def change() -> None:
        changes = {
            "shift_notifications": checkbox(form, "shift_notifications"),
            "lead_minutes": optional_int(form, "lead_minutes") or 0,
        }
        shifts.update_preference(db, _owner(db, user_id, user), changes, by=user)

    return perform(db, _back(user_id), change, notice="Shift notifications saved.")
