"""JSON routes: a person's contact methods and rules (their own, or anyone's for admins),
test sends, and the notifications of an incident."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from tocsin.catalog import service as catalog
from tocsin.deps import AppSettings, CurrentUser, DbSession
from tocsin.incidents import queries
from tocsin.notify import methods, shifts
from tocsin.notify.schemas import (
    ContactMethodCreated,
    ContactMethodIn,
    ContactMethodOut,
    ContactMethodPatch,
    NotificationOut,
    RuleIn,
    RuleOut,
    RulePatch,
    SecretOut,
    ShiftNoticeOut,
    ShiftPreferenceOut,
    ShiftPreferencePatch,
    method_out,
    notification_out,
    rule_out,
    shift_preference_out,
)
from tocsin.notify.service import contact_methods, notifications_for
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["notifications"])

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Ref = Annotated[str, Path(max_length=40, description="INC-42 or 42")]


@router.get(
    "/users/{user_id}/contact-methods", response_model=list[ContactMethodOut], responses=errors(403)
)
def list_contact_methods(
    user_id: PathId, db: DbSession, user: CurrentUser
) -> list[ContactMethodOut]:
    owner = catalog.get_user(db, user_id)
    methods.check_can_manage(user, owner)
    return [method_out(m) for m in contact_methods(db, owner)]


@router.post(
    "/users/{user_id}/contact-methods", status_code=201, response_model=ContactMethodCreated
)
def create_contact_method(
    user_id: PathId, body: ContactMethodIn, db: DbSession, user: CurrentUser, settings: AppSettings
) -> ContactMethodCreated:
    """Add a contact method. A webhook's signing secret is in this answer only."""
    owner = catalog.get_user(db, user_id)
    method, secret = methods.create_contact_method(
        db, owner, by=user, settings=settings, **body.model_dump()
    )
    return method_out(method, secret)


@router.get("/contact-methods/{method_id}", response_model=ContactMethodOut, responses=errors(403))
def get_contact_method(method_id: PathId, db: DbSession, user: CurrentUser) -> ContactMethodOut:
    method = methods.get_contact_method(db, method_id)
    methods.check_can_manage(user, method.user)
    return method_out(method)


@router.patch("/contact-methods/{method_id}", response_model=ContactMethodOut)
def update_contact_method(
    method_id: PathId,
    body: ContactMethodPatch,
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
) -> ContactMethodOut:
    method = methods.get_contact_method(db, method_id)
    methods.update_contact_method(
        db, method, body.model_dump(exclude_unset=True), by=user, settings=settings
    )
    return method_out(method)


@router.delete("/contact-methods/{method_id}", status_code=204)
def delete_contact_method(method_id: PathId, db: DbSession, user: CurrentUser) -> Response:
    methods.delete_contact_method(db, methods.get_contact_method(db, method_id), by=user)
    return Response(status_code=204)


@router.post("/contact-methods/{method_id}/test", status_code=202, response_model=ContactMethodOut)
def test_contact_method(method_id: PathId, db: DbSession, user: CurrentUser) -> ContactMethodOut:
    """Queue a test message; read the method again for `last_result`."""
    method = methods.get_contact_method(db, method_id)
    methods.request_test(db, method, by=user)
    return method_out(method)


@router.post("/contact-methods/{method_id}/rotate-secret", response_model=SecretOut)
def rotate_secret(
    method_id: PathId, db: DbSession, user: CurrentUser, settings: AppSettings
) -> SecretOut:
    """A new webhook signing secret, shown this once; the old one stops matching."""
    method = methods.get_contact_method(db, method_id)
    return SecretOut(
        signing_secret=methods.rotate_webhook_secret(db, method, by=user, settings=settings)
    )


@router.get(
    "/users/{user_id}/notification-rules", response_model=list[RuleOut], responses=errors(403)
)
def list_rules(user_id: PathId, db: DbSession, user: CurrentUser) -> list[RuleOut]:
    owner = catalog.get_user(db, user_id)
    methods.check_can_manage(user, owner)
    return [rule_out(r) for r in methods.rules_of(db, owner)]


@router.post("/users/{user_id}/notification-rules", status_code=201, response_model=RuleOut)
def create_rule(user_id: PathId, body: RuleIn, db: DbSession, user: CurrentUser) -> RuleOut:
    owner = catalog.get_user(db, user_id)
    return rule_out(methods.create_rule(db, owner, by=user, **body.model_dump()))


@router.patch("/notification-rules/{rule_id}", response_model=RuleOut)
def update_rule(rule_id: PathId, body: RulePatch, db: DbSession, user: CurrentUser) -> RuleOut:
    rule = methods.get_rule(db, rule_id)
    return rule_out(methods.update_rule(db, rule, body.model_dump(exclude_unset=True), by=user))


@router.delete("/notification-rules/{rule_id}", status_code=204)
def delete_rule(rule_id: PathId, db: DbSession, user: CurrentUser) -> Response:
    methods.delete_rule(db, methods.get_rule(db, rule_id), by=user)
    return Response(status_code=204)


@router.get("/incidents/{ref}/notifications", response_model=list[NotificationOut])
def incident_notifications(ref: Ref, db: DbSession, user: CurrentUser) -> list[NotificationOut]:
    """Who was paged for this incident, through what, when, and what happened."""
    incident = queries.get_incident(db, ref, viewer=user)
    return [notification_out(n) for n in notifications_for(db, incident.id)]


@router.get(
    "/users/{user_id}/shift-notifications", response_model=ShiftPreferenceOut, responses=errors(403)
)
def get_shift_preference(user_id: PathId, db: DbSession, user: CurrentUser) -> ShiftPreferenceOut:
    """Whether the person is told when their shifts start and change, and how early."""
    owner = catalog.get_user(db, user_id)
    methods.check_can_manage(user, owner)
    return shift_preference_out(shifts.preference(db, owner))


@router.patch("/users/{user_id}/shift-notifications", response_model=ShiftPreferenceOut)
def update_shift_preference(
    user_id: PathId, body: ShiftPreferencePatch, db: DbSession, user: CurrentUser
) -> ShiftPreferenceOut:
    owner = catalog.get_user(db, user_id)
    changes = body.model_dump(exclude_unset=True)
    return shift_preference_out(shifts.update_preference(db, owner, changes, by=user))


@router.get(
    "/users/{user_id}/shift-notices", response_model=list[ShiftNoticeOut], responses=errors(403)
)
def list_shift_notices(user_id: PathId, db: DbSession, user: CurrentUser) -> list[ShiftNoticeOut]:
    """The person's most recent shift notices (starting and changed), newest first."""
    owner = catalog.get_user(db, user_id)
    methods.check_can_manage(user, owner)
    return [ShiftNoticeOut.model_validate(n) for n in shifts.notices_of_user(db, owner, limit=50)]
