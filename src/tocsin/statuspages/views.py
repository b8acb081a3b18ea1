"""Staff pages for status pages: the list, the editor (settings, look, groups, components,
order, statuses by hand, the secret link) and a preview of the page as it is now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from tocsin.catalog.models import Service, Team, User
from tocsin.deps import Admin, AppSettings, CurrentUser, DbSession, Responder
from tocsin.errors import NotFound
from tocsin.statuspages import service
from tocsin.statuspages.look import LOGO_MAX_BYTES
from tocsin.statuspages.models import ComponentStatus, StatusPage
from tocsin.statuspages.present import STATUS_LABELS, load_page_view, page_url
from tocsin.statuspages.render import build_files
from tocsin.web.actions import perform
from tocsin.web.forms import Form, checkbox, optional_date, optional_int, redirect, text
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
SECTION = "statuspages"


def _base(page: StatusPage) -> str:
    return f"/status-pages/{page.id}"


@router.get("/status-pages")
def pages_list(
    request: Request, db: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    pages = service.list_pages(db)
    return render(
        request,
        "statuspages/list.html",
        {
            "section": SECTION,
            "pages": pages,
            "urls": {p.id: page_url(p, settings.base_url) for p in pages},
            "teams": db.scalars(select(Team).order_by(Team.name)).all(),
        },
    )


@router.post("/status-pages")
def create_page(db: DbSession, user: Admin, form: Form) -> Response:
    created: list[StatusPage] = []

    def act() -> None:
        created.append(
            service.create_page(
                db,
                {
                    "name": text(form, "name"),
                    "slug": text(form, "slug").strip() or None,
                    "visibility": text(form, "visibility") or "public",
                    "owner_team_id": optional_int(form, "owner_team_id"),
                    "owner_user_id": user.id,
                },
            )
        )

    response = perform(db, "/status-pages", act)
    if created:
        return redirect(_base(created[0]), notice="Status page created. Add its components.")
    return response


def _editor_context(db: Session, page: StatusPage, settings: Any) -> dict[str, Any]:
    return {
        "section": SECTION,
        "page": page,
        "public_url": page_url(page, settings.base_url),
        "layout": service.top_level(page),
        "services": db.scalars(select(Service).order_by(Service.name)).all(),
        "teams": db.scalars(select(Team).order_by(Team.name)).all(),
        "people": db.scalars(
            select(User).where(User.active.is_(True), User.is_person).order_by(User.name)
        ).all(),
        "statuses": [s.value for s in ComponentStatus],
        "labels": STATUS_LABELS,
        "changes": service.component_history(db, page, limit=20),
        "logo_max_kib": LOGO_MAX_BYTES // 1024,
    }


@router.get("/status-pages/{page_id}")
def editor(
    page_id: int, request: Request, db: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    page = service.get_page(db, page_id)
    return render(request, "statuspages/editor.html", _editor_context(db, page, settings))


@router.post("/status-pages/{page_id}/settings")
def save_settings(page_id: int, db: DbSession, user: Admin, form: Form) -> Response:
    page = service.get_page(db, page_id)
    changes = {
        "name": text(form, "name"),
        "slug": text(form, "slug"),
        "description": text(form, "description"),
        "visibility": text(form, "visibility"),
        "time_zone": text(form, "time_zone"),
        "public_url": text(form, "public_url"),
        "owner_team_id": optional_int(form, "owner_team_id"),
        "owner_user_id": optional_int(form, "owner_user_id"),
        "allow_subscribers": checkbox(form, "allow_subscribers"),
    }
    return perform(
        db, _base(page), lambda: service.update_page(db, page, changes), notice="Settings saved."
    )


@router.post("/status-pages/{page_id}/look")
async def save_look(page_id: int, request: Request, db: DbSession, user: Admin) -> Response:
    page = service.get_page(db, page_id)
    form = await request.form()
    upload = form.get("logo")

    def act() -> None:
        service.update_page(
            db,
            page,
            {"brand_color": text(form, "brand_color"), "accent_color": text(form, "accent_color")},
        )
        if checkbox(form, "remove_logo"):
            service.remove_logo(db, page)
        elif isinstance(upload, UploadFile) and upload.filename:
            service.set_logo(db, page, upload.file.read(LOGO_MAX_BYTES + 1))

    return perform(db, _base(page) + "#look", act, notice="Look saved.")


@router.post("/status-pages/{page_id}/secret-link")
def secret_link(
    page_id: int, db: DbSession, user: Admin, settings: AppSettings, form: Form
) -> Response:
    page = service.get_page(db, page_id)
    if checkbox(form, "remove"):
        return perform(
            db, _base(page), lambda: service.remove_secret_link(db, page), notice="Link removed."
        )
    token = service.new_secret_link(db, page)
    url = f"{settings.base_url.rstrip('/')}/status/{page.slug}/access/{token}"
    return redirect(
        _base(page) + "#access",
        notice=f"New secret link (shown once; the old one no longer works): {url}",
    )


@router.post("/status-pages/{page_id}/delete")
def delete_page(page_id: int, db: DbSession, user: Admin) -> Response:
    page = service.get_page(db, page_id)
    name = page.name
    service.delete_page(db, page)
    return redirect("/status-pages", notice=f"Deleted {name}.")


# Groups and components ----------------------------------------------------------------------


def _group_fields(form: FormData) -> dict[str, Any]:
    return {"name": text(form, "name"), "description": text(form, "description")}


def _component_fields(form: FormData) -> dict[str, Any]:
    return {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "group_id": optional_int(form, "group_id"),
        "service_id": optional_int(form, "service_id"),
        "showcase": checkbox(form, "showcase"),
        "only_show_if_degraded": checkbox(form, "only_show_if_degraded"),
        "start_date": optional_date(form, "start_date"),
    }


@router.post("/status-pages/{page_id}/groups")
def add_group(page_id: int, db: DbSession, user: Admin, form: Form) -> Response:
    page = service.get_page(db, page_id)
    return perform(
        db,
        _base(page) + "#components",
        lambda: service.create_group(db, page, _group_fields(form)),
        notice="Group added.",
    )


@router.post("/status-pages/{page_id}/groups/{group_id}")
def edit_group(page_id: int, group_id: int, db: DbSession, user: Admin, form: Form) -> Response:
    page = service.get_page(db, page_id)
    group = service.get_group(db, page, group_id)
    back = _base(page) + "#components"
    action = text(form, "action")
    if action == "delete":
        return perform(db, back, lambda: service.delete_group(db, group), notice="Group removed.")
    if action in ("up", "down"):
        return perform(db, back, lambda: service.move(db, group, action))
    return perform(
        db, back, lambda: service.update_group(db, group, _group_fields(form)), notice="Saved."
    )


@router.post("/status-pages/{page_id}/components")
def add_component(page_id: int, db: DbSession, user: Admin, form: Form) -> Response:
    page = service.get_page(db, page_id)
    return perform(
        db,
        _base(page) + "#components",
        lambda: service.create_component(db, page, _component_fields(form), by=user),
        notice="Component added.",
    )


@router.post("/status-pages/{page_id}/components/{component_id}")
def edit_component(
    page_id: int, component_id: int, db: DbSession, user: Admin, form: Form
) -> Response:
    page = service.get_page(db, page_id)
    component = service.get_component(db, page, component_id)
    back = _base(page) + "#components"
    action = text(form, "action")
    if action == "delete":
        return perform(
            db, back, lambda: service.delete_component(db, component), notice="Component removed."
        )
    if action in ("up", "down"):
        return perform(db, back, lambda: service.move(db, component, action))
    return perform(
        db,
        back,
        lambda: service.update_component(db, component, _component_fields(form)),
        notice="Saved.",
    )


@router.post("/status-pages/{page_id}/components/{component_id}/status")
def set_status(
    page_id: int, component_id: int, db: DbSession, user: Responder, form: Form
) -> Response:
    """A component's status set by hand: recorded with who and why, shown at once."""
    page = service.get_page(db, page_id)
    component = service.get_component(db, page, component_id)
    return perform(
        db,
        _base(page) + "#statuses",
        lambda: service.set_component_status(
            db, component, text(form, "status"), by=user, reason=text(form, "reason")
        ),
        notice=f"{component.name} status set.",
    )


# Preview ------------------------------------------------------------------------------------


@router.get("/status-pages/{page_id}/preview/{path:path}")
def preview(
    page_id: int, path: str, db: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    """The page rendered from the current state, without publishing anything: the same
    files as the public page, under this address (their links are relative)."""
    page = service.get_page(db, page_id)
    files = {f.path: f for f in build_files(load_page_view(db, page, settings.base_url),
                                            base_url=settings.base_url)}  # fmt: skip
    wanted = path + "index.html" if path == "" or path.endswith("/") else path
    found = files.get(wanted)
    if found is None:
        if f"{path}/index.html" in files:
            return redirect(f"/status-pages/{page.id}/preview/{path}/")
        raise NotFound(f"no file {path!r} in the preview of {page.name}")
    return Response(
        found.body,
        media_type=found.content_type,
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )
