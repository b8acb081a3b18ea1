"""Commands that run incidents through the REST API of a Tocsin server."""

from __future__ import annotations

import enum
import json
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.text import Text

from tocsin.cli.client import Api, config_path, save_login
from tocsin.cli.output import console, emit_json, fail, table
from tocsin.validation import digits

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]
# Every command that talks to a server takes these; left out, TOCSIN_URL and TOCSIN_TOKEN
# are used, else the saved login (client.resolve_server).
UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="Tocsin's address [default: TOCSIN_URL, else the saved login]"),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", help="API token [default: TOCSIN_TOKEN, else the saved login's]"),
]


def login(
    url: Annotated[
        str | None,
        typer.Argument(
            help="Tocsin's address, e.g. https://tocsin.example.com [default: TOCSIN_URL]",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="API token [default: TOCSIN_TOKEN, else prompted]")
    ] = None,
) -> None:
    """Check an API token against a server and remember both for the other commands."""
    url = url or os.environ.get("TOCSIN_URL") or None
    if url is None:
        fail("give the server's address: tocsin login URL (or set TOCSIN_URL)")
    if not re.match(r"^https?://", url):
        fail("URL must start with http:// or https://")
    token_from = "--token" if token else "TOCSIN_TOKEN"
    token = token or os.environ.get("TOCSIN_TOKEN") or None
    if token is None:
        token, token_from = typer.prompt("API token", hide_input=True), "the prompt"
    me = Api(url, token, token_from=token_from).get("/me")
    path = save_login(url, token)
    console.print(
        f"logged in to {url} as {me['name']} <{me['email']}> ({me['role']}); saved in {path}"
    )


def logout() -> None:
    """Forget the saved server and token."""
    path = config_path()
    if path.exists():
        path.unlink()
    console.print("logged out")


incident_app = typer.Typer(help="Declare and run incidents.", no_args_is_help=True)


def _print_incident(incident: dict[str, Any]) -> None:
    sev = incident["severity"]["name"] if incident["severity"] else "—"
    commander = incident["commander"]["name"] if incident["commander"] else "nobody"
    urgency = f"{incident['urgency']} urgency" + (
        " (declared without paging)" if incident["declared_without_paging"] else ""
    )
    console.print(
        f"[bold]{incident['reference']}[/bold] {incident['title']}\n"
        f"  status {incident['status']} · severity {sev} · {urgency} · commander {commander}\n"
        f"  {incident['url']}",
        highlight=False,
    )


class Urgency(enum.StrEnum):
    """How a declared incident pages: `none` declares it without paging anyone."""

    high = "high"
    low = "low"
    none = "none"


def _done(incident: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(incident)
    else:
        _print_incident(incident)


@incident_app.command("declare")
def declare(
    title: Annotated[str, typer.Argument(help="What is happening, in a line")],
    severity: Annotated[str | None, typer.Option(help="e.g. SEV1")] = None,
    priority: Annotated[str | None, typer.Option(help="e.g. P1")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Incident type name")] = None,
    service: Annotated[list[str] | None, typer.Option(help="Affected service (repeatable)")] = None,
    description: Annotated[str, typer.Option()] = "",
    impact: Annotated[str, typer.Option(help="Customer impact")] = "",
    commander: Annotated[str | None, typer.Option(help="Commander's email")] = None,
    drill: Annotated[bool, typer.Option("--drill", help="A practice incident")] = False,
    urgency: Annotated[
        Urgency | None,
        typer.Option(
            help="high or low, or none to declare without paging anyone "
            "(default: the severity's default urgency)",
        ),
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare an incident; its services' escalation policies page at its urgency."""
    api = Api.from_login(url, token)
    body: dict[str, Any] = {
        "title": title,
        "description": description,
        "customer_impact": impact,
        "drill": drill,
    }
    if severity:
        body["severity_id"] = api.id_by_name("severities", severity)
    if priority:
        body["priority_id"] = api.id_by_name("priorities", priority)
    if type_:
        body["type_id"] = api.id_by_name("incident-types", type_)
    if service:
        body["service_ids"] = [api.id_by_name("services", name) for name in service]
    if commander:
        body["commander_id"] = api.id_by_name("users", commander, key="email")
    if urgency is not None:
        body["urgency"] = urgency.value
    _done(api.post("/incidents", body), as_json)


@incident_app.command("list")
def list_incidents(
    status: Annotated[list[str] | None, typer.Option(help="Status (repeatable)")] = None,
    severity: Annotated[list[str] | None, typer.Option(help="Severity (repeatable)")] = None,
    service: Annotated[list[str] | None, typer.Option(help="Service (repeatable)")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only unresolved incidents")] = False,
    query: Annotated[str | None, typer.Option("-q", "--query", help="Free text")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 25,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List incidents, newest first."""
    api = Api.from_login(url, token)
    params: dict[str, Any] = {
        "status": status or None,
        "severity": severity or None,
        "service": service or None,
        "q": query,
        "limit": limit,
    }
    if open_only:
        params["open"] = "true"
    data = api.get("/incidents", **params)
    if as_json:
        emit_json(data)
        return
    rows = [
        [
            i["reference"],
            i["status"],
            i["severity"]["name"] if i["severity"] else "",
            i["title"],
            ", ".join(s["name"] for s in i["services"]),
            i["commander"]["name"] if i["commander"] else "",
            i["started_at"][:16].replace("T", " "),
        ]
        for i in data["items"]
    ]
    table(
        f"{len(rows)} of {data['total']} incidents",
        ["Ref", "Status", "Sev", "Title", "Services", "Commander", "Started (UTC)"],
        rows,
    )


@incident_app.command("show")
def show(
    ref: Annotated[str, typer.Argument()],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an incident with its roles, timeline, updates and action items."""
    api = Api.from_login(url, token)
    incident = api.get(f"/incidents/{ref}")
    timeline = api.get(f"/incidents/{ref}/timeline")["items"]
    updates = api.get(f"/incidents/{ref}/updates")["items"]
    items = api.get(f"/incidents/{ref}/action-items")["items"]
    if as_json:
        emit_json({**incident, "timeline": timeline, "updates": updates, "action_items": items})
        return
    _print_incident(incident)
    if incident["roles"]:
        table(
            "Roles",
            ["Role", "Who"],
            [[r["role"]["name"], r["user"]["name"]] for r in incident["roles"]],
        )
    table(
        "Timeline",
        ["When (UTC)", "", "What"],
        [
            [
                e["occurred_at"][:19].replace("T", " "),
                "★" if e["is_key_event"] else "",
                e["summary"] + (f": {e['body']}" if e["body"] else ""),
            ]
            for e in timeline[-20:]
        ],
    )
    if updates:
        table(
            "Updates",
            ["When (UTC)", "Phase", "To", "Text"],
            [
                [u["created_at"][:16].replace("T", " "), u["phase"], u["visibility"], u["body"]]
                for u in updates
            ],
        )
    if items:
        table(
            "Action items",
            ["#", "Status", "Kind", "Priority", "Title", "Tags", "Owner", "Due"],
            [
                [
                    a["id"],
                    a["status"] + (" (overdue)" if a["overdue"] else ""),
                    a["kind"],
                    a["priority"],
                    a["title"],
                    " ".join(a["tags"]),
                    a["assignee"]["name"] if a["assignee"] else "",
                    a["due_date"],
                ]
                for a in items
            ],
        )


def _simple(action: str, help_text: str) -> Callable[..., None]:
    def command(
        ref: Annotated[str, typer.Argument()],
        url: UrlOpt = None,
        token: TokenOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        _done(Api.from_login(url, token).post(f"/incidents/{ref}/{action}"), as_json)

    command.__doc__ = help_text
    return command


incident_app.command("ack")(_simple("acknowledge", "Acknowledge a triggered incident."))
incident_app.command("close")(_simple("close", "Close a resolved incident."))
incident_app.command("reopen")(_simple("reopen", "Reopen a resolved or closed incident."))


def _in_future(text: str) -> str:
    match = re.fullmatch(r"([0-9]{1,5})\s*([mhd])", text.strip())
    if not match:
        fail("--next-update takes a duration like 30m, 2h or 1d")
    amount, unit = int(match.group(1)), match.group(2)
    delta = {
        "m": timedelta(minutes=amount),
        "h": timedelta(hours=amount),
        "d": timedelta(days=amount),
    }[unit]
    return (datetime.now(UTC) + delta).isoformat()


@incident_app.command("update")
def update(
    ref: Annotated[str, typer.Argument()],
    phase: Annotated[str, typer.Option(help="investigating, identified, monitoring, resolved")],
    message: Annotated[
        str | None, typer.Option("-m", "--message", help="The update's text")
    ] = None,
    template: Annotated[bool, typer.Option("--template", help="Use the phase's template")] = False,
    external: Annotated[bool, typer.Option("--external", help="For customers")] = False,
    next_update: Annotated[
        str | None, typer.Option(help="e.g. 30m: when the next update is due")
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Post a status update; the incident moves to the phase's status."""
    api = Api.from_login(url, token)
    due = _in_future(next_update) if next_update else None
    if message is None:
        if not template:
            fail("give the text with --message, or --template to use the phase's template")
        message = api.get(f"/incidents/{ref}/template", phase=phase, next_update_at=due)["body"]
    body = {
        "phase": phase,
        "body": message,
        "visibility": "external" if external else "internal",
        "next_update_at": due,
    }
    posted = api.post(f"/incidents/{ref}/updates", body)
    if as_json:
        emit_json(posted)
    else:
        console.print(f"posted {posted['visibility']} {phase} update to {ref}", highlight=False)


@incident_app.command("note")
def note(
    ref: Annotated[str, typer.Argument()],
    text: Annotated[str, typer.Argument(help="The note")],
    key: Annotated[bool, typer.Option("--key", help="Mark it as a key event")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a note to the timeline."""
    api = Api.from_login(url, token)
    entry = api.post(f"/incidents/{ref}/notes", {"body": text, "key_event": key})
    if as_json:
        emit_json(entry)
    else:
        console.print(f"noted on {ref}", highlight=False)


@incident_app.command("resolve")
def resolve(
    ref: Annotated[str, typer.Argument()],
    message: Annotated[
        str | None, typer.Option("-m", "--message", help="Also post a Resolved update")
    ] = None,
    summary: Annotated[
        str | None,
        typer.Option("--summary", help="How it ended: the resolution summary, for the postmortem"),
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resolve an incident (optionally with a resolution summary and a Resolved update)."""
    api = Api.from_login(url, token)
    incident = api.post(f"/incidents/{ref}/resolve", {"summary": summary} if summary else None)
    if message:
        api.post(f"/incidents/{ref}/updates", {"phase": "resolved", "body": message})
        incident = api.get(f"/incidents/{ref}")
    _done(incident, as_json)


# --- integrations and events ------------------------------------------------------------


def integration_list(
    service: Annotated[str | None, typer.Option(help="Only this service's (name)")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List integrations with their sender URL, key prefix and last event."""
    api = Api.from_login(url, token)
    service_id = api.id_by_name("services", service) if service else None
    data = api.get("/integrations", service_id=service_id, limit=500)
    if as_json:
        emit_json(data)
        return
    rows = [
        [
            i["id"],
            i["service"]["name"],
            i["name"],
            i["type"],
            "yes" if i["enabled"] else "no",
            i["key_prefix"] + "…",
            (i["last_event_at"] or "")[:19].replace("T", " "),
            i["url"],
        ]
        for i in data["items"]
    ]
    table(
        f"{data['total']} integrations",
        ["#", "Service", "Name", "Type", "Enabled", "Key", "Last event (UTC)", "Sender URL"],
        rows,
    )


events_app = typer.Typer(help="Events received from integrations.", no_args_is_help=True)

# How each outcome is shown: what paged stands out, what was dropped or held is visible.
OUTCOME_STYLES = {
    "pending": "dim",
    "created_alert": "bold red",
    "deduplicated": "yellow",
    "acknowledged": "cyan",
    "unacknowledged": "cyan",
    "resolved": "green",
    "updated": "cyan",
    "ignored": "dim",
    "recorded": "dim",
    "suppressed": "magenta",
    "maintenance": "blue",
    "failed": "bold white on red",
    "rejected": "bold red",
}


def _integration_id(api: Api, name: str, service_id: int | None) -> int:
    number = digits(name)
    if number is not None:
        return number
    items = api.get("/integrations", service_id=service_id, limit=500)["items"]
    found = [i for i in items if i["name"].lower() == name.lower()]
    if len(found) == 1:
        return int(found[0]["id"])
    if found:
        fail(f"several integrations are named {name!r}: give --service or the id")
    known = ", ".join(i["name"] for i in items[:20]) or "none"
    fail(f"no integration named {name!r} (known: {known})")


def _event_line(event: dict[str, Any]) -> None:
    style = OUTCOME_STYLES.get(event["outcome"], "")
    when = event["received_at"][:19].replace("T", " ")
    integration = event["integration"]["name"] if event["integration"] else "—"
    detail = f"  {event['outcome_detail']}" if event["outcome_detail"] else ""
    line = Text(f"{when}  {integration}  {event['action']}  {event['dedup_key'] or '—'}  ")
    line.append(event["outcome"], style=style)
    line.append(detail)
    console.print(line, highlight=False, soft_wrap=True)


@events_app.command("tail")
def tail(
    service: Annotated[str | None, typer.Option(help="Only events of this service")] = None,
    integration: Annotated[
        str | None, typer.Option(help="Only this integration (name or id)")
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="e.g. suppressed, created_alert")] = None,
    since_id: Annotated[
        int | None, typer.Option("--since-id", help="Start after this event id (default: now)")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Exit after this many events")] = None,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="Exit after this many seconds")
    ] = None,
    interval: Annotated[float, typer.Option(min=0.1, hidden=True)] = 1.0,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Follow received events as they are applied: what each became and why. Ctrl-C stops."""
    api = Api.from_login(url, token)
    params: dict[str, Any] = {"outcome": outcome}
    if service:
        params["service_id"] = api.id_by_name("services", service)
    if integration:
        params["integration_id"] = _integration_id(api, integration, params.get("service_id"))
    if since_id is None:
        latest = api.get("/events", limit=1)["items"]
        since_id = latest[0]["id"] if latest else 0
    deadline = None if timeout is None else time.monotonic() + timeout
    shown = 0
    try:
        while True:
            items = api.get("/events", after_id=since_id, limit=500, **params)["items"]
            for event in items:
                # Events are applied in id order: stop at the first one still pending and
                # ask again, so that each is shown once, with what became of it.
                if event["outcome"] == "pending" and outcome != "pending":
                    break
                if as_json:
                    sys.stdout.write(json.dumps(event) + "\n")
                    sys.stdout.flush()
                else:
                    _event_line(event)
                since_id = event["id"]
                shown += 1
                if count is not None and shown >= count:
                    return
            if deadline is not None and time.monotonic() >= deadline:
                return
            left = interval if deadline is None else deadline - time.monotonic()
            time.sleep(max(0.0, min(interval, left)))
    except KeyboardInterrupt:
        return
