"""`tocsin oncall now|next` and `tocsin override add`: schedules, on the database directly."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from tocsin.catalog import service as catalog
from tocsin.cli.local import container
from tocsin.cli.output import console, emit_json, fail, table
from tocsin.db import transaction, utcnow
from tocsin.errors import DomainError
from tocsin.schedules import queries, service
from tocsin.schedules.oncall import on_call_until_many, upcoming_shifts

oncall_app = typer.Typer(help="Who is on call.", no_args_is_help=True)
override_app = typer.Typer(help="Schedule overrides.", no_args_is_help=True)

TzOption = Annotated[str, typer.Option("--tz", help="Show times in this IANA time zone")]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--tz: unknown time zone {name!r}")


def _when(value: str, option: str, zone: ZoneInfo) -> datetime:
    """ISO 8601; without an offset it is read in `zone`."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: not an ISO 8601 date and time: {value!r} (e.g. 2026-06-01T09:00)")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _fmt(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def now(
    schedule: Annotated[str | None, typer.Argument(help="Schedule name (default: all)")] = None,
    at: Annotated[
        str | None, typer.Option(help="ISO time instead of now (UTC if no offset)")
    ] = None,
    tz: TzOption = "UTC",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who is on call now (or --at a time), in one schedule or all of them, and until when
    (the end of their unbroken time on call, followed up to 14 days ahead)."""
    zone = _zone(tz)
    instant = _when(at, "--at", ZoneInfo("UTC")) if at else utcnow()
    try:
        with transaction(container().sessionmaker) as session:
            schedules = (
                [service.schedule_named(session, schedule)] if schedule
                else service.list_schedules(session)
            )  # fmt: skip
            found = on_call_until_many(session, [s.id for s in schedules], instant)
            users = queries.users_by_id(
                session, {x.shift.user_id for v in found.values() for x in v}
            )
            rows: list[dict[str, Any]] = []
            for item in schedules:
                rows.append({
                    "schedule": item.name,
                    "schedule_id": item.id,
                    "on_call": [
                        {"user": users[s.user_id].name, "email": users[s.user_id].email,
                         "start": s.start.isoformat(), "end": s.end.isoformat(), "source": s.source,
                         "until": now.until.isoformat(), "until_beyond": now.beyond}
                        for now in found[item.id] for s in [now.shift]
                    ],
                })  # fmt: skip
    except DomainError as exc:
        fail(exc.message)
    if as_json:
        emit_json({"at": instant.isoformat(), "schedules": rows})
        return
    lines = []
    for row in rows:
        if not row["on_call"]:
            lines.append([row["schedule"], "nobody", "", "", ""])
        for s in row["on_call"]:
            until = _fmt(datetime.fromisoformat(s["until"]), zone)
            lines.append([
                row["schedule"], f"{s['user']} <{s['email']}>",
                _fmt(datetime.fromisoformat(s["start"]), zone),
                f"beyond {until}" if s["until_beyond"] else until, s["source"],
            ])  # fmt: skip
    table(
        f"On call at {_fmt(instant, zone)}", ["Schedule", "On call", "From", "Until", "Why"], lines
    )


def next_shifts(
    user: Annotated[str, typer.Option("--user", help="Email of the person")],
    days: Annotated[int, typer.Option(min=1, max=366, help="How far ahead")] = 28,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A person's next shifts in every schedule (times in their own time zone)."""
    start = utcnow()
    with transaction(container().sessionmaker) as session:
        person = catalog.user_by_email(session, user)
        if person is None:
            fail(f"no user with email {user}")
        zone = _zone(person.timezone)
        shifts = upcoming_shifts(session, person.id, start, start + timedelta(days=days))
        names = {s.id: s.name for s in service.list_schedules(session)}
        rows = [
            {"schedule": names.get(s.schedule_id, str(s.schedule_id)), "start": s.start.isoformat(),
             "end": s.end.isoformat(), "source": s.source}
            for s in shifts
        ]  # fmt: skip
        person_name = person.name
    if as_json:
        emit_json({"user": user, "shifts": rows})
        return
    if not rows:
        console.print(f"{person_name} has no shifts in the next {days} days")
        return
    table(
        f"Shifts of {person_name} ({zone.key})",
        ["Schedule", "From", "Until", "Why"],
        [[r["schedule"], _fmt(datetime.fromisoformat(r["start"]), zone),
          _fmt(datetime.fromisoformat(r["end"]), zone), r["source"]] for r in rows],
    )  # fmt: skip


def override_add(
    schedule: Annotated[str, typer.Option("--schedule", help="Schedule name")],
    user: Annotated[str, typer.Option("--user", help="Email of who is on call")],
    start: Annotated[str, typer.Option(help="ISO time; no offset: the user's time zone")],
    end: Annotated[str, typer.Option(help="ISO time; no offset: the user's time zone")],
    swap_with: Annotated[str | None, typer.Option("--swap-with", help="Email: a swap")] = None,
    note: Annotated[str, typer.Option(help="Why")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Put someone on call in a schedule for a range (a swap with --swap-with)."""
    try:
        with transaction(container().sessionmaker) as session:
            target = service.schedule_named(session, schedule)
            person = catalog.user_by_email(session, user)
            if person is None:
                fail(f"--user: no user with email {user}")
            partner = None
            if swap_with:
                partner = catalog.user_by_email(session, swap_with)
                if partner is None:
                    fail(f"--swap-with: no user with email {swap_with}")
            zone = _zone(person.timezone)
            override = service.add_override(
                session, target, user_id=person.id, start=_when(start, "--start", zone),
                end=_when(end, "--end", zone), swap_with_id=partner.id if partner else None,
                note=note,
            )  # fmt: skip
            out: dict[str, Any] = {
                "id": override.id, "schedule": target.name, "user": person.email,
                "start": override.start.isoformat(), "end": override.end.isoformat(),
                "swap_with": partner.email if partner else None,
            }  # fmt: skip
    except DomainError as exc:
        fail(exc.message)
    if as_json:
        emit_json(out)
        return
    console.print(
        f"override {out['id']}: {user} on call in {out['schedule']} from "
        f"{_fmt(datetime.fromisoformat(out['start']), zone)} to "
        f"{_fmt(datetime.fromisoformat(out['end']), zone)}",
        highlight=False,
    )


oncall_app.command("now")(now)
oncall_app.command("next")(next_shifts)
override_app.command("add")(override_add)
