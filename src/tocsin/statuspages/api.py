"""JSON routes for managing status pages: pages, groups, components, publishing incident
updates, scheduled maintenance. Everyone logged in reads; admins edit pages, groups and
components; responders publish, set component statuses and run maintenance.

`{page}` is a page's id or slug.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import select

from tocsin.catalog.models import User, UserRole
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import Forbidden, ValidationFailed
from tocsin.incidents import queries
from tocsin.incidents.access import hidden_ids
from tocsin.statuspages import maintenance, publish, service
from tocsin.statuspages.look import LOGO_MAX_BYTES
from tocsin.statuspages.models import PageIncident, PageIncidentKind
from tocsin.statuspages.schemas import (
    ComponentChangeOut,
    ComponentIn,
    ComponentOut,
    ComponentPatch,
    GroupIn,
    GroupOut,
    GroupPatch,
    MaintenanceIn,
    MaintenancePatch,
    MaintenanceUpdateIn,
    PageIn,
    PageIncidentOut,
    PageOut,
    PagePatch,
    PublishIn,
    SecretLinkOut,
    UpdateOut,
    change_out,
    component_out,
    group_out,
    page_incident_out,
    page_out,
    update_out,
)
from tocsin.validation import digits
from tocsin.web.openapi import errors

router = APIRouter(prefix="/api/v1/status-pages", tags=["status pages"])

PageRef = Annotated[str, Path(max_length=64, description="id or slug")]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", response_model=list[PageOut])
def list_pages(db: DbSession, user: CurrentUser) -> list[PageOut]:
    return [page_out(p) for p in service.list_pages(db)]


@router.post("", status_code=201, response_model=PageOut, responses=errors(404))
def create_page(body: PageIn, db: DbSession, admin: Admin) -> PageOut:
    return page_out(service.create_page(db, body.model_dump(exclude_none=True)))


@router.get("/{page}", response_model=PageOut)
def get_page(page: PageRef, db: DbSession, user: CurrentUser) -> PageOut:
    return page_out(service.get_page(db, page))


@router.patch("/{page}", response_model=PageOut)
def update_page(page: PageRef, body: PagePatch, db: DbSession, admin: Admin) -> PageOut:
    found = service.get_page(db, page)
    return page_out(service.update_page(db, found, body.model_dump(exclude_unset=True)))


@router.delete("/{page}", status_code=204)
def delete_page(page: PageRef, db: DbSession, admin: Admin) -> Response:
    service.delete_page(db, service.get_page(db, page))
    return Response(status_code=204)


@router.put("/{page}/logo", response_model=PageOut)
async def upload_logo(page: PageRef, request: Request, db: DbSession, admin: Admin) -> PageOut:
    """The raw image as the body: PNG, JPEG, WebP or GIF (checked by its bytes)."""
    declared = digits(request.headers.get("content-length", ""))
    if declared is not None and declared > LOGO_MAX_BYTES:
        raise ValidationFailed(
            f"the logo is larger than {LOGO_MAX_BYTES // 1024} KiB", field="logo"
        )
    data = await request.body()
    return page_out(service.set_logo(db, service.get_page(db, page), data))


@router.delete("/{page}/logo", response_model=PageOut)
def remove_logo(page: PageRef, db: DbSession, admin: Admin) -> PageOut:
    return page_out(service.remove_logo(db, service.get_page(db, page)))


@router.post("/{page}/secret-link", status_code=201, response_model=SecretLinkOut)
def new_secret_link(
    page: PageRef, db: DbSession, admin: Admin, settings: AppSettings
) -> SecretLinkOut:
    """A new shared secret link for a private page (the old one stops working)."""
    found = service.get_page(db, page)
    token = service.new_secret_link(db, found)
    base = settings.base_url.rstrip("/")
    return SecretLinkOut(url=f"{base}/status/{found.slug}/access/{token}")


@router.delete("/{page}/secret-link", status_code=204)
def remove_secret_link(page: PageRef, db: DbSession, admin: Admin) -> Response:
    service.remove_secret_link(db, service.get_page(db, page))
    return Response(status_code=204)


# Groups and components ----------------------------------------------------------------------


@router.post("/{page}/groups", status_code=201, response_model=GroupOut)
def create_group(page: PageRef, body: GroupIn, db: DbSession, admin: Admin) -> GroupOut:
    found = service.get_page(db, page)
    return group_out(service.create_group(db, found, body.model_dump(exclude_none=True)))


@router.patch("/{page}/groups/{group_id}", response_model=GroupOut)
def update_group(
    page: PageRef, group_id: ItemId, body: GroupPatch, db: DbSession, admin: Admin
) -> GroupOut:
    group = service.get_group(db, service.get_page(db, page), group_id)
    service.update_group(db, group, body.model_dump(exclude_unset=True))
    return group_out(group)


@router.delete("/{page}/groups/{group_id}", status_code=204)
def delete_group(page: PageRef, group_id: ItemId, db: DbSession, admin: Admin) -> Response:
    service.delete_group(db, service.get_group(db, service.get_page(db, page), group_id))
    return Response(status_code=204)


@router.get("/{page}/components", response_model=list[ComponentOut])
def list_components(page: PageRef, db: DbSession, user: CurrentUser) -> list[ComponentOut]:
    return [component_out(c) for c in service.get_page(db, page).components]


@router.post("/{page}/components", status_code=201, response_model=ComponentOut)
def create_component(page: PageRef, body: ComponentIn, db: DbSession, admin: Admin) -> ComponentOut:
    found = service.get_page(db, page)
    data = body.model_dump(exclude_none=True)
    return component_out(service.create_component(db, found, data, by=admin))


@router.patch("/{page}/components/{component_id}", response_model=ComponentOut)
def update_component(
    page: PageRef, component_id: ItemId, body: ComponentPatch, db: DbSession, user: Responder
) -> ComponentOut:
    """Responders may change only `status` (and give a `reason`); other fields need an
    admin."""
    component = service.get_component(db, service.get_page(db, page), component_id)
    changes = body.model_dump(exclude_unset=True)
    status, reason = changes.pop("status", None), changes.pop("reason", "")
    if changes:
        _admin_only(user)
        service.update_component(db, component, changes)
    if status is not None:
        service.set_component_status(db, component, status, by=user, reason=reason)
    return component_out(component)


def _admin_only(user: User) -> None:
    if not user.can(UserRole.admin):
        raise Forbidden(f"changing a component needs the admin role; you are a {user.role}")


@router.delete("/{page}/components/{component_id}", status_code=204)
def delete_component(page: PageRef, component_id: ItemId, db: DbSession, admin: Admin) -> Response:
    component = service.get_component(db, service.get_page(db, page), component_id)
    service.delete_component(db, component)
    return Response(status_code=204)


@router.get("/{page}/component-changes", response_model=list[ComponentChangeOut])
def component_changes(page: PageRef, db: DbSession, user: CurrentUser) -> list[ComponentChangeOut]:
    """The latest 50 component status changes, newest first."""
    return [change_out(c) for c in service.component_history(db, service.get_page(db, page))]


# Incidents and maintenance --------------------------------------------------------------------


def _page_incidents(db: DbSession, page_id: int, kind: str) -> list[PageIncident]:
    return list(
        db.scalars(
            select(PageIncident)
            .where(PageIncident.page_id == page_id, PageIncident.kind == kind)
            .order_by(PageIncident.started_at.desc(), PageIncident.id.desc())
        )
    )


@router.get("/{page}/incidents", response_model=list[PageIncidentOut])
def list_incidents(page: PageRef, db: DbSession, user: CurrentUser) -> list[PageIncidentOut]:
    found = service.get_page(db, page)
    rows = _page_incidents(db, found.id, PageIncidentKind.incident.value)
    hidden = hidden_ids(db, user, (pi.incident_id for pi in rows))
    return [page_incident_out(pi, show_incident=pi.incident_id not in hidden) for pi in rows]


@router.post("/{page}/incidents", status_code=201, response_model=UpdateOut)
def publish_update(page: PageRef, body: PublishIn, db: DbSession, user: Responder) -> UpdateOut:
    """Publish an external update of a Tocsin incident on the page. Drills and restricted
    incidents are refused (409)."""
    found = service.get_page(db, page)
    incident = queries.get_incident(db, body.incident, viewer=user)
    draft = publish.check(
        db,
        found,
        incident,
        phase=body.status,
        body=body.body,
        name=body.name,
        impact=body.impact,
        components={int(k): v for k, v in body.components.items()},
        deliver_notifications=body.deliver_notifications,
        display_at=body.display_at,
    )
    return update_out(publish.publish(db, draft, by=user))


@router.get("/{page}/maintenances", response_model=list[PageIncidentOut])
def list_maintenances(page: PageRef, db: DbSession, user: CurrentUser) -> list[PageIncidentOut]:
    found = service.get_page(db, page)
    return [page_incident_out(pi) for pi in maintenance.list_maintenances(db, found)]


@router.post("/{page}/maintenances", status_code=201, response_model=PageIncidentOut)
def schedule_maintenance(
    page: PageRef, body: MaintenanceIn, db: DbSession, user: Responder
) -> PageIncidentOut:
    found = service.get_page(db, page)
    data = body.model_dump(exclude={"body", "deliver_notifications"})
    pi = maintenance.schedule(
        db, found, data, body=body.body, deliver_notifications=body.deliver_notifications, by=user
    )
    return page_incident_out(pi)


@router.patch("/{page}/maintenances/{maintenance_id}", response_model=PageIncidentOut)
def reschedule_maintenance(
    page: PageRef,
    maintenance_id: ItemId,
    body: MaintenancePatch,
    db: DbSession,
    user: Responder,
) -> PageIncidentOut:
    pi = maintenance.get_maintenance(db, service.get_page(db, page), maintenance_id)
    return page_incident_out(
        maintenance.reschedule(db, pi, body.model_dump(exclude_unset=True), by=user)
    )


@router.post(
    "/{page}/maintenances/{maintenance_id}/updates", status_code=201, response_model=UpdateOut
)
def maintenance_update(
    page: PageRef,
    maintenance_id: ItemId,
    body: MaintenanceUpdateIn,
    db: DbSession,
    user: Responder,
) -> UpdateOut:
    """Post an update, moving the maintenance on (in_progress, verifying, completed)."""
    pi = maintenance.get_maintenance(db, service.get_page(db, page), maintenance_id)
    update = maintenance.transition(
        db,
        pi,
        body.status,
        body=body.body,
        deliver_notifications=body.deliver_notifications,
        by=user,
    )
    return update_out(update)
