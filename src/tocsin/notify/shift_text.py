"""What shift notices say: times in the person's own time zone, worked out per instant (so a
shift across a daylight-saving change reads "09:00 to 09:00 tomorrow", not 08:00 or 10:00)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _day(local: datetime) -> str:
    return f"{local:%a} {local.day} {local:%b}"  # "Tue 24 Nov"


def moment(at: datetime, zone: ZoneInfo, now: datetime) -> str:
    """ "09:00" today, "09:00 tomorrow", else "Tue 24 Nov 09:00" (relative to `now`)."""
    local = at.astimezone(zone)
    today = now.astimezone(zone).date()
    clock = f"{local:%H:%M}"
    if local.date() == today:
        return clock
    if local.date() == today + timedelta(days=1):
        return f"{clock} tomorrow"
    return f"{_day(local)} {clock}"


def span(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """ "Tue 24 Nov 09:00–17:00", or "Tue 24 Nov 09:00 – Wed 25 Nov 09:00" across days."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    if first.date() == last.date():
        return f"{_day(first)} {first:%H:%M}–{last:%H:%M}"
    return f"{_day(first)} {first:%H:%M} – {_day(last)} {last:%H:%M}"


def names(people: Sequence[str]) -> str:
    unique = list(dict.fromkeys(people))
    if len(unique) <= 1:
        return "".join(unique)
    return f"{', '.join(unique[:-1])} and {unique[-1]}"


def starting_text(
    schedule: str,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    now: datetime,
    *,
    open_ended: bool = False,
) -> tuple[str, str]:
    """(subject, sentence) of a "your shift starts" notice; `open_ended` when its end is
    further away than was looked (`end` is then only where the looking stopped)."""
    if open_ended:
        when = f"from {moment(start, zone, now)}, for {(end - start).days} days or more"
    else:
        when = f"from {moment(start, zone, now)} to {moment(end, zone, now)}"
    subject = f"On call for {schedule} {when}"
    sentence = f"You are on call for schedule “{schedule}” {when} ({zone.key})."
    return subject, sentence


def removed_line(start: datetime, end: datetime, zone: ZoneInfo, takers: Sequence[str]) -> str:
    """A range the person no longer covers, and who does now."""
    if not takers:
        return f"You are no longer on call {span(start, end, zone)} (nobody is on call then)"
    verb = "takes" if len(set(takers)) == 1 else "take"
    return f"{names(takers)} {verb} your shift on {span(start, end, zone)}"


def added_line(start: datetime, end: datetime, zone: ZoneInfo, previous: Sequence[str]) -> str:
    """A range the person now covers, and who did before."""
    line = f"You are now on call {span(start, end, zone)}"
    return f"{line}, taking over from {names(previous)}" if previous else line
