"""JSON routes for the response plan, and its Markdown and PDF downloads. Everyone logged in
reads it; admins change its own text."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from tocsin.audit.trail import record
from tocsin.deps import Admin, CurrentUser, DbSession
from tocsin.plan import document, export, pdf, service
from tocsin.plan.schemas import PlanOut, PlanSettingsIn, PlanSettingsOut

router = APIRouter(prefix="/api/v1", tags=["plan"])


@router.get("/plan", response_model=PlanOut)
def plan(db: DbSession, user: CurrentUser) -> PlanOut:
    """The incident response plan, built from the configuration as it is now."""
    return PlanOut.model_validate(document.build(db))


@router.get("/plan/settings", response_model=PlanSettingsOut)
def plan_settings(db: DbSession, user: CurrentUser) -> PlanSettingsOut:
    """The plan's own text: what counts as an incident and the incident values (Markdown)."""
    return PlanSettingsOut.model_validate(service.texts(db))


@router.put("/plan/settings", response_model=PlanSettingsOut)
def set_plan_settings(body: PlanSettingsIn, db: DbSession, admin: Admin) -> PlanSettingsOut:
    """Change what counts as an incident and/or the incident values (admins); a field left
    out keeps its text."""
    service.set_texts(db, **body.model_dump(exclude_unset=True))
    return PlanSettingsOut.model_validate(service.texts(db))


def _file(media_type: str, schema: dict[str, str], name: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "The response plan as one file to download",
            "content": {media_type: {"schema": schema}},
            "headers": {
                "Content-Disposition": {
                    "description": f'attachment; filename="{name}"',
                    "schema": {"type": "string"},
                }
            },
        }
    }


def _download(body: bytes, media_type: str, name: str) -> Response:
    disposition = f'attachment; filename="{name}"'
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})


@router.get(
    "/plan/export.md",
    response_class=Response,
    responses=_file("text/markdown", {"type": "string"}, "response-plan.md"),
)
def export_markdown(db: DbSession, user: CurrentUser) -> Response:
    """The response plan as one Markdown document."""
    record(
        db, "export.plan", target_type="plan", target="response plan", detail={"format": "markdown"}
    )
    body = export.to_markdown(document.build(db)).encode()
    return _download(body, "text/markdown; charset=utf-8", "response-plan.md")


@router.get(
    "/plan/export.pdf",
    response_class=Response,
    responses=_file("application/pdf", {"type": "string", "format": "binary"}, "response-plan.pdf"),
)
def export_pdf(db: DbSession, user: CurrentUser) -> Response:
    """The response plan as a PDF, with the same content as the Markdown export."""
    record(db, "export.plan", target_type="plan", target="response plan", detail={"format": "pdf"})
    return _download(pdf.to_pdf(document.build(db)), "application/pdf", "response-plan.pdf")
