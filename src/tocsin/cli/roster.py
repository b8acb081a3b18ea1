"""`tocsin roster`: each incident role's primary and backup, and who they are now (or --at a
time), from the database directly or through a server's API.

With --url, --token, --remote or TOCSIN_URL set it asks the server (`GET /api/v1/roster`);
otherwise it reads the database of TOCSIN_DATABASE_URL. Either way it prints the same thing,
and writes nothing."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated, Any

import typer

from tocsin.cli.client import Api
from tocsin.cli.local import container
from tocsin.cli.output import console, emit_json, fail, table
from tocsin.cli.remote import TokenOpt, UrlOpt
from tocsin.errors import DomainError
from tocsin.roster import service
from tocsin.roster.schemas import RosterOut, entry_out
from tocsin.simulation.moment import EXAMPLE, parse_moment


def _local(at: datetime) -> dict[str, Any]:
    built = container()
    try:
        with built.sessionmaker() as session:
            try:
                out = RosterOut(
                    items=[entry_out(e, service.resolve(session, e, at))
                           for e in service.entries(session)]
                )  # fmt: skip
                return out.model_dump(mode="json")
            finally:
                session.rollback()  # read only: nothing to keep
    finally:
        built.close()


def _set(slot: dict[str, Any]) -> str:
    if slot["schedule"] is not None:
        return f"on call for {slot['schedule']['name']}"
    if slot["user"] is not None:
        return str(slot["user"]["name"])
    return "nobody set"


def _now(slot: dict[str, Any]) -> str:
    return ", ".join(p["name"] for p in slot["now"]) or "nobody"


def render(roster: dict[str, Any], when: str) -> None:
    """One row per role: what each slot is set to, and who that is at the time."""
    if not roster["items"]:
        console.print("The roster is empty: set it in Settings → Roster, or in the `roster` "
                      "section of the configuration file.", highlight=False)  # fmt: skip
        return
    table(
        f"Roster {when}",
        ["role", "primary", f"primary {when}", "backup", f"backup {when}"],
        [[e["role"]["name"], _set(e["primary"]), _now(e["primary"]),
          _set(e["backup"]), _now(e["backup"])] for e in roster["items"]],
    )  # fmt: skip


def roster(
    at: Annotated[
        str | None,
        typer.Option(help=f"When, e.g. {EXAMPLE!r}; without a zone, in UTC [default: now]"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts")] = False,
    remote: Annotated[
        bool, typer.Option("--remote", help="Ask the server of the saved login")
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Each incident role's primary and backup, and who they are now (or --at a time): a
    schedule's slot names whoever is on call for it then. Nothing is written."""
    try:
        moment, _zone = parse_moment(at)
    except DomainError as exc:
        fail(exc.message)
    if remote or url or token or os.environ.get("TOCSIN_URL"):
        result = Api.from_login(url, token).get("/roster", at=moment.isoformat())
    else:
        result = _local(moment)
    if as_json:
        emit_json(result)
    else:
        render(result, "now" if not at or at.strip().lower() == "now" else f"at {at}")
