"""`tocsin statuspage list|export`: status pages, on the database directly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tocsin.audit.trail import record
from tocsin.cli.local import container, load_settings
from tocsin.cli.output import console, emit_json, fail, table
from tocsin.db import transaction
from tocsin.errors import DomainError
from tocsin.statuspages import service
from tocsin.statuspages.export import export_page
from tocsin.statuspages.present import load_page_view, page_url

statuspage_app = typer.Typer(help="Status pages.", no_args_is_help=True)


@statuspage_app.command("list")
def list_pages(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every status page: its address, access, components and overall status."""
    settings = load_settings()
    rows = []
    with transaction(container(settings).sessionmaker) as session:
        for page in service.list_pages(session):
            view = load_page_view(session, page, settings.base_url)
            rows.append({
                "slug": page.slug,
                "name": page.name,
                "visibility": page.visibility,
                "url": page_url(page, settings.base_url),
                "components": len(page.components),
                "status": view.description_text,
                "indicator": view.indicator,
                "rendered_at": page.rendered_at.isoformat() if page.rendered_at else None,
            })  # fmt: skip
    if as_json:
        emit_json(rows)
        return
    table(
        "Status pages",
        ["Slug", "Name", "Access", "Components", "Status", "Address"],
        [[r["slug"], r["name"], r["visibility"], r["components"], r["status"], r["url"]]
         for r in rows],
    )  # fmt: skip


def export(
    page: Annotated[str, typer.Argument(help="The page's slug or id")],
    directory: Annotated[
        Path, typer.Argument(help="Directory to write (new, empty or an earlier export)")
    ],  # fmt: skip
) -> None:
    """Write the page as a complete static copy (HTML, JSON API, feeds, stylesheet, logo)
    that any static host can serve."""
    settings = load_settings()
    try:
        with transaction(container(settings).sessionmaker) as session:
            found = service.get_page(session, page)
            count = export_page(session, found, directory, settings=settings)
            slug = found.slug
            record(
                session,
                "export.statuspage",
                target_type="status_page",
                target_id=found.id,
                target=found.name,
                detail={"directory": str(directory), "files": count},
            )
    except DomainError as exc:
        fail(exc.message)
    console.print(f"wrote {count} files of {slug!r} to {directory}")


statuspage_app.command("export")(export)
