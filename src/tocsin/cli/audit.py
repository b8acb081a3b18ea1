"""`tocsin audit`: verify the audit trail's chain, and export it as JSON lines, from the
database directly or (with --remote, --url, --token or TOCSIN_URL) through a server's API as
an org admin. An export is itself recorded (`export.audit`)."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer

from tocsin.audit.trail import record, verify
from tocsin.auditing import queries
from tocsin.cli.client import Api
from tocsin.cli.local import container
from tocsin.cli.output import console, emit_json, fail
from tocsin.cli.remote import TokenOpt, UrlOpt
from tocsin.db import snapshot, transaction

audit_app = typer.Typer(help="The audit trail: verify its chain, export it.", no_args_is_help=True)

RemoteOpt = Annotated[bool, typer.Option("--remote", help="Ask the server of the saved login")]


def _remote(remote: bool, url: str | None, token: str | None) -> bool:
    return bool(remote or url or token or os.environ.get("TOCSIN_URL"))


def _moment(value: str | None, name: str) -> datetime | None:
    """A date (its midnight, UTC) or an ISO date and time (UTC unless it says otherwise)."""
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--{name}: {value!r} is not a date (2026-12-01) or an ISO date and time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit_app.command("verify")
def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts")] = False,
    remote: RemoteOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Walk the chain from the oldest kept record; exit 1 and say where it breaks."""
    if _remote(remote, url, token):
        result: dict[str, Any] = Api.from_login(url, token).get("/audit/verify")
    else:
        built = container()
        try:
            with snapshot(built.sessionmaker) as session:
                found = verify(session)
        finally:
            built.close()
        result = {
            "intact": found.intact,
            "checked": found.checked,
            "broken_seq": found.broken_seq,
            "reason": found.reason,
        }
    if as_json:
        emit_json(result)
    if not result["intact"]:
        fail(
            f"the audit trail is broken at record {result['broken_seq']}: {result['reason']} "
            f"({result['checked']} record(s) before it verified)"
        )
    if not as_json:
        console.print(f"the audit trail verifies: {result['checked']} record(s) checked")


@audit_app.command("export")
def export_command(
    since: Annotated[
        str | None, typer.Option(help="Records at or after (date or ISO time)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Records before (date or ISO time)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write")] = None,
    remote: RemoteOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Write the audit records as JSON lines, oldest first, each with seq, prev_hash and hash
    (to standard output, or --output)."""
    start, end = _moment(since, "since"), _moment(until, "until")
    if start and end and end <= start:
        fail("--until must be after --since")
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        if _remote(remote, url, token):
            params = {k: v.isoformat() for k, v in (("since", start), ("until", end)) if v}
            body = Api.from_login(url, token).send("GET", "/audit/export", params=params)
            out.write(body.text)
        else:
            _export_local(out, start, end)
    finally:
        if output:
            out.close()
    if output:
        console.print(f"wrote {output}")


def _export_local(out: Any, start: datetime | None, end: datetime | None) -> None:
    built = container()
    try:
        # Recorded first, in its own transaction: an export is an access, even if cut short.
        with transaction(built.sessionmaker) as session:
            record(
                session,
                "export.audit",
                target_type="audit",
                detail={
                    "since": start.isoformat() if start else None,
                    "until": end.isoformat() if end else None,
                    "format": "jsonl",
                },
            )
        with snapshot(built.sessionmaker) as session:
            flt = queries.AuditFilter(since=start, until=end)
            for row in queries.export(session, flt):
                out.write(json.dumps(queries.plain(row), ensure_ascii=False) + "\n")
    finally:
        built.close()
