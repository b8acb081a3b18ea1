"""The response plan's page (everyone logged in) and Settings → Response plan (admins edit
what counts as an incident and the incident values)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tocsin.deps import Admin, CurrentUser, DbSession
from tocsin.plan import document, export, service
from tocsin.web.actions import perform
from tocsin.web.forms import Form, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/plan")
def plan_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    plan = document.build(db)
    return render(
        request,
        "plan/page.html",
        {
            "plan": plan,
            "unset": document.UNSET,
            "escalation_line": export.escalation_line,
            "level_text": export.level_text,
            "section": "response-plan",
        },
    )


@router.get("/settings/plan")
def settings_page(request: Request, db: DbSession, user: CurrentUser) -> Response:
    return render(
        request,
        "settings/plan.html",
        {"texts": service.texts(db), "section": "plan", "limit": service.TEXT_MAX},
    )


@router.post("/settings/plan")
def save_settings(db: DbSession, admin: Admin, form: Form) -> Response:
    return perform(
        db,
        "/settings/plan",
        lambda: service.set_texts(
            db,
            what_is_an_incident=text(form, "what_is_an_incident"),
            values=text(form, "values"),
        ),
        notice="Response plan saved.",
    )
