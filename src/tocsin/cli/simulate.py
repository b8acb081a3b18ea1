"""`tocsin simulate`: a dry run of paging, on the database directly or through a server's API.

With --url, --token, --remote or TOCSIN_URL set it asks the server (`POST
/api/v1/paging/simulate`); otherwise it reads the database of TOCSIN_DATABASE_URL. Either way
it prints the same thing, and writes nothing."""

from __future__ import annotations

import enum
import os
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from tocsin.cli.client import Api
from tocsin.cli.local import container
from tocsin.cli.output import console, emit_json, fail, table
from tocsin.errors import DomainError
from tocsin.simulation.moment import EXAMPLE, parse_moment
from tocsin.simulation.schemas import simulation_out
from tocsin.simulation.service import simulate as run_simulation


class Urgency(enum.StrEnum):
    high = "high"
    low = "low"


def _local(body: dict[str, Any]) -> dict[str, Any]:
    built = container()
    try:
        with built.sessionmaker() as session:
            try:
                at, zone = parse_moment(body["at"], body["timezone"])
                result = run_simulation(
                    session, service=body["service"], at=at, timezone=zone,
                    severity=body["severity"], incident_type=body["type"],
                    urgency=body["urgency"],
                )  # fmt: skip
                return simulation_out(result).model_dump(mode="json")
            except DomainError as exc:
                fail(exc.message)
            finally:
                session.rollback()  # read only: nothing to keep
    finally:
        built.close()


def _when(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _after(minutes: int) -> str:
    if minutes == 0:
        return "T+0"
    hours, rest = divmod(minutes, 60)
    return f"T+{hours}h{rest:02d}" if hours else f"T+{minutes} min"


def _methods(person: dict[str, Any]) -> str:
    if not person["deliveries"]:
        return person["note"]
    text = "; ".join(
        f"{d['method']} ({d['kind']}) "
        + ("at once" if d["delay_minutes"] == 0 else f"after {d['delay_minutes']} min")
        for d in person["deliveries"]
    )
    return text + (f" ({person['note']})" if person["note"] else "")


def render(sim: dict[str, Any]) -> None:
    """The dry run for people: what starts, each level's people and methods, the channels."""
    zone = ZoneInfo(sim["timezone"])
    what = " ".join(x for x in (sim["severity"], sim["type"]) if x) or "An incident"
    console.print(
        f"[bold]Dry run[/bold]: {what} on {sim['service']} at {_when(sim['at'], zone)} "
        f"({sim['timezone']}), {sim['urgency']} urgency. Nothing was written or sent.",
        highlight=False,
    )
    if sim["maintenance"]:
        console.print(f"[yellow]maintenance:[/yellow] {sim['maintenance']}", highlight=False)
    console.print(sim["summary"], style="bold red" if sim["nobody"] else "bold", highlight=False)
    for name in sim["without_policy"]:
        console.print(f"{name} has no escalation policy: it pages nobody", highlight=False)
    for run in sim["runs"]:
        start = f" ({run['start']})" if run["start"] else ""
        rows: list[list[Any]] = []
        for level in run["levels"]:
            repeat = f" (time {level['time']})" if level["time"] > 1 else ""
            when = [_when(level["at"], zone), _after(level["after_minutes"]),
                    f"{level['level']}{repeat}"]  # fmt: skip
            if not level["people"]:
                rows.append([*when, "nobody", level["text"], ""])
            for person in level["people"]:
                rows.append([*when, person["name"], person["why"], _methods(person)])
        table(
            f"Escalation policy \u201c{run['policy']}\u201d for {run['service']}{start}",
            ["when", "after", "level", "who", "why", "contact methods"],
            rows,
        )
        for note in run["notes"]:
            console.print(note, highlight=False)
        if run["end"]:
            console.print(f"If nobody acknowledges: {run['end']}", highlight=False)
    if sim["channels"]:
        table(
            "Channels due an update",
            ["channel", "audience", "due", "why"],
            [[c["name"], c["audience"], _when(c["due_at"], zone),
              c["because"] or ("each update" if c["automatic"] else "on request")]
             for c in sim["channels"]],
        )  # fmt: skip
    else:
        console.print("No channel of the registry applies.", highlight=False)
    if sim["workflows"]:
        table(
            "Workflows that would run",
            ["workflow", "actions"],
            [[w["name"], "; ".join(w["actions"])] for w in sim["workflows"]],
        )


def simulate(
    service: Annotated[str, typer.Option(help="The service the incident is on")],
    severity: Annotated[str | None, typer.Option(help="e.g. SEV2")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Incident type name")] = None,
    urgency: Annotated[
        Urgency | None, typer.Option(help="Default: the severity's default urgency")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help=f"When, e.g. {EXAMPLE!r}; without a zone, in --tz [default: now]"),
    ] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="Read --at and show times in this zone [UTC]")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts")] = False,
    remote: Annotated[
        bool, typer.Option("--remote", help="Ask the server of the saved login")
    ] = False,
    url: Annotated[str | None, typer.Option(help="Ask this server [default: TOCSIN_URL]")] = None,
    token: Annotated[str | None, typer.Option(help="API token [default: TOCSIN_TOKEN]")] = None,
) -> None:
    """Who would be paged, at which level, through which contact methods and when, if an
    incident were declared now (or --at a time) and nobody acknowledged; which channels would
    be due an update. The same engine as real paging; nothing is written or sent."""
    body = {
        "service": service, "severity": severity, "type": type_,
        "urgency": urgency.value if urgency else None, "at": at, "timezone": tz,
    }  # fmt: skip
    if remote or url or token or os.environ.get("TOCSIN_URL"):
        result = Api.from_login(url, token).post("/paging/simulate", body)
    else:
        result = _local(body)
    if as_json:
        emit_json(result)
    else:
        render(result)
    if result["nobody"]:
        raise typer.Exit(1)
