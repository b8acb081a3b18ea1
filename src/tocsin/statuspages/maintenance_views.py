"""The maintenance scheduler: plan a window with its components, then follow it through
(its timers move it on; responders can post updates and move it by hand)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from tocsin.deps import CurrentUser, DbSession, Responder
from tocsin.statuspages import maintenance, service
from tocsin.statuspages.models import MaintenanceStatus
from tocsin.statuspages.present import PHASE_LABELS
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, int_list, local_datetime, optional_int, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


def _window_and_flags(form: FormData, tz: str) -> dict[str, Any]:
    remind = optional_int(form, "remind_minutes") if checkbox(form, "remind") else None
    return {
        "name": text(form, "name"),
        "scheduled_for": local_datetime(form, "scheduled_for", tz),
        "scheduled_until": local_datetime(form, "scheduled_until", tz),
        "component_ids": int_list(form, "component_ids"),
        "remind_minutes": remind,
        "scheduled_auto_in_progress": checkbox(form, "auto_in_progress"),
        "scheduled_auto_completed": checkbox(form, "auto_completed"),
        "auto_transition_to_maintenance_state": checkbox(form, "to_maintenance_state"),
        "auto_transition_to_operational_state": checkbox(form, "to_operational_state"),
    }


@router.get("/status-pages/{page_id}/maintenance")
def scheduler(page_id: int, request: Request, db: DbSession, user: CurrentUser) -> Response:
    page = service.get_page(db, page_id)
    items = maintenance.list_maintenances(db, page)
    return render(
        request,
        "statuspages/maintenance.html",
        {
            "section": "statuspages",
            "page": page,
            "open": [m for m in items if m.status != MaintenanceStatus.completed.value],
            "done": [m for m in items if m.status == MaintenanceStatus.completed.value][:20],
            "transitions": maintenance.TRANSITIONS,
            "labels": PHASE_LABELS,
            "tz": user.timezone,
        },
    )


@router.post("/status-pages/{page_id}/maintenance")
def schedule(page_id: int, db: DbSession, user: Responder, form: Form) -> Response:
    page = service.get_page(db, page_id)
    data = _window_and_flags(form, user.timezone)
    return perform(
        db,
        f"/status-pages/{page.id}/maintenance",
        lambda: maintenance.schedule(
            db,
            page,
            data,
            body=text(form, "body"),
            deliver_notifications=checkbox(form, "deliver_notifications"),
            by=user,
        ),
        notice="Maintenance scheduled.",
    )


@router.post("/status-pages/{page_id}/maintenance/{maintenance_id}/reschedule")
def reschedule(
    page_id: int, maintenance_id: int, db: DbSession, user: Responder, form: Form
) -> Response:
    page = service.get_page(db, page_id)
    pi = maintenance.get_maintenance(db, page, maintenance_id)
    data = _window_and_flags(form, user.timezone)
    return perform(
        db,
        f"/status-pages/{page.id}/maintenance",
        lambda: maintenance.reschedule(db, pi, data, by=user),
        notice="Maintenance rescheduled.",
    )


@router.post("/status-pages/{page_id}/maintenance/{maintenance_id}/update")
def post_update(
    page_id: int, maintenance_id: int, db: DbSession, user: Responder, form: Form
) -> Response:
    page = service.get_page(db, page_id)
    pi = maintenance.get_maintenance(db, page, maintenance_id)
    return perform(
        db,
        f"/status-pages/{page.id}/maintenance",
        lambda: maintenance.transition(
            db,
            pi,
            text(form, "status"),
            body=text(form, "body"),
            deliver_notifications=checkbox(form, "deliver_notifications"),
            by=user,
        ),
        notice="Maintenance updated.",
    )
