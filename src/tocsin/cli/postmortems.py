"""`tocsin postmortem list|show|export`: postmortems through the REST API of a server."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markdown import Markdown
from rich.rule import Rule

from tocsin.cli.client import Api
from tocsin.cli.output import console, emit_json, fail, table
from tocsin.cli.remote import JsonOpt, TokenOpt, UrlOpt

postmortem_app = typer.Typer(help="Read and export postmortems.", no_args_is_help=True)

LABELS = {"draft": "Draft", "in_review": "In review", "reviewed": "Reviewed", "closed": "Closed"}
PostmortemId = Annotated[
    int, typer.Argument(min=1, help="The postmortem's id (tocsin postmortem list)")
]


class Status(enum.StrEnum):
    draft = "draft"
    in_review = "in_review"
    reviewed = "reviewed"
    closed = "closed"


class Format(enum.StrEnum):
    md = "md"
    pdf = "pdf"


def _when(value: str | None, missing: str = "—") -> str:
    """An API timestamp (UTC, ISO 8601) as `2026-03-04 15:30`."""
    return value[:16].replace("T", " ") if value else missing


def _status(postmortem: dict[str, Any]) -> str:
    label = LABELS.get(postmortem["status"], postmortem["status"])
    return f"{label} (overdue)" if postmortem["overdue"] else label


@postmortem_app.command("list")
def list_postmortems(
    status: Annotated[list[Status] | None, typer.Option(help="Status (repeatable)")] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only those past their next deadline")
    ] = False,
    query: Annotated[
        str | None, typer.Option("-q", "--query", help="Text in the title or any section")
    ] = None,
    severity: Annotated[list[str] | None, typer.Option(help="Severity (repeatable)")] = None,
    service: Annotated[list[str] | None, typer.Option(help="Service (repeatable)")] = None,
    team: Annotated[list[str] | None, typer.Option(help="Team (repeatable)")] = None,
    type_: Annotated[list[str] | None, typer.Option("--type", help="Type (repeatable)")] = None,
    since: Annotated[
        str | None, typer.Option(help="Incident started at or after (ISO 8601 with offset)")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Incident started before (ISO 8601 with offset)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List postmortems: overdue ones first, then the next due, then the newest."""
    api = Api.from_login(url, token)
    params: dict[str, Any] = {
        "status": [s.value for s in status or []] or None,
        "q": query,
        "severity": severity or None,
        "service": service or None,
        "team": team or None,
        "type": type_ or None,
        "since": since,
        "until": until,
        "limit": limit,
    }
    if overdue:
        params["overdue"] = "true"
    data = api.get("/postmortems", **params)
    if as_json:
        emit_json(data)
        return
    rows = [
        [
            p["id"],
            p["incident"]["reference"],
            p["incident"]["title"],
            p["owner"]["name"] if p["owner"] else "",
            _status(p),
            _when(p["draft_due_at"], ""),
            _when(p["meeting_due_at"], ""),
        ]
        for p in data["items"]
    ]
    table(
        f"{len(rows)} of {data['total']} postmortems",
        ["ID", "Incident", "Title", "Owner", "Status", "Draft due (UTC)", "Meeting due (UTC)"],
        rows,
    )


@postmortem_app.command("show")
def show(
    postmortem_id: PostmortemId,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The postmortem's header and every section, its Markdown rendered for the terminal."""
    api = Api.from_login(url, token)
    pm = api.get(f"/postmortems/{postmortem_id}")
    if as_json:
        emit_json(pm)
        return
    review = api.get(f"/postmortems/{postmortem_id}/reviewers")
    incident = pm["incident"]
    facts = [
        ("Severity", incident["severity"] or "—"),
        ("Owner", pm["owner"]["name"] if pm["owner"] else "nobody"),
        ("Status", _status(pm)),
        ("Draft due", _when(pm["draft_due_at"])),
        ("Meeting due", _when(pm["meeting_due_at"])),
        ("Meeting", _when(pm["meeting_at"], "not scheduled")),
        ("Recording", pm["recording_url"] or "—"),
        ("Review", _review(review)),
        ("Published", _when(pm["published_at"], "not yet")),
    ]
    console.print(
        f"[bold]Postmortem {pm['id']}: {incident['reference']}[/bold] {incident['title']}",
        highlight=False,
    )
    for label, value in facts:
        console.print(f"  {label}: {value}", highlight=False, markup=False)
    console.print("  (times in UTC)", style="dim")
    for section in pm["sections"]:
        console.print(Rule(section["title"], align="left"))
        console.print(Markdown(section["body"].strip() or "_Not written yet._"))


def _review(review: dict[str, Any]) -> str:
    """The reviewers' verdicts in one line: "Rita (approved), Sam (changes requested)"."""
    words = {"pending": "waiting", "approved": "approved", "changes_requested": "changes requested"}
    people = ", ".join(
        f"{r['user']['name']} ({words.get(r['verdict'], r['verdict'])})"
        for r in review["reviewers"]
    )
    state = "ready to be marked Reviewed" if review["may_be_reviewed"] else review["blocker"]
    return f"{people or 'no reviewers'}; {state}"


@postmortem_app.command("export")
def export(
    postmortem_id: PostmortemId,
    format_: Annotated[Format, typer.Option("--format", help="The file's format")] = Format.md,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write to this file [default: standard output]"),
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Export the postmortem as one document (Markdown or PDF), as the page's downloads do."""
    api = Api.from_login(url, token)
    content = api.download(f"/postmortems/{postmortem_id}/export.{format_.value}")
    if output is None:
        if format_ is Format.pdf and sys.stdout.isatty():
            fail("a PDF is not for the terminal: give -o FILE, or redirect the output")
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(content)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    console.print(f"wrote postmortem {postmortem_id} to {output}", highlight=False)
