"""`tocsin plan export`: the incident response plan as Markdown or PDF, read from the database
directly or through a server's API.

With --url, --token, --remote or TOCSIN_URL set it asks the server (`GET
/api/v1/plan/export.md|pdf`); otherwise it reads the database of TOCSIN_DATABASE_URL. Either
way the document is the same, and nothing is written to the database."""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tocsin.audit.trail import record
from tocsin.cli.client import Api
from tocsin.cli.local import container
from tocsin.cli.output import console, fail
from tocsin.cli.remote import TokenOpt, UrlOpt
from tocsin.db import transaction
from tocsin.plan import document, export, pdf

plan_app = typer.Typer(help="The incident response plan.", no_args_is_help=True)


class Format(enum.StrEnum):
    md = "md"
    pdf = "pdf"


def _local(format_: Format) -> bytes:
    built = container()
    try:
        with built.sessionmaker() as session:
            try:
                plan = document.build(session)
            finally:
                session.rollback()  # read only: nothing to keep
        with transaction(built.sessionmaker) as session:
            record(
                session,
                "export.plan",
                target_type="plan",
                target="response plan",
                detail={"format": "markdown" if format_ is Format.md else "pdf"},
            )
    finally:
        built.close()
    return export.to_markdown(plan).encode() if format_ is Format.md else pdf.to_pdf(plan)


@plan_app.command("export")
def export_plan(
    format_: Annotated[Format, typer.Option("--format", help="The file's format")] = Format.md,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write to this file [default: standard output]"),
    ] = None,
    remote: Annotated[
        bool, typer.Option("--remote", help="Ask the server of the saved login")
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Export the response plan as one document (Markdown or PDF), as the page's downloads
    do: built from the configuration as it is now."""
    if format_ is Format.pdf and output is None and sys.stdout.isatty():
        fail("a PDF is not for the terminal: give -o FILE, or redirect the output")
    if remote or url or token or os.environ.get("TOCSIN_URL"):
        content = Api.from_login(url, token).download(f"/plan/export.{format_.value}")
    else:
        content = _local(format_)
    if output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(content)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    console.print(f"wrote the response plan to {output}", highlight=False)
