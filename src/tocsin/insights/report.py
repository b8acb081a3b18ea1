"""The weekly Insights report: each team's last week by email, to every active member.

An hourly scan (`SCAN_JOB`) plans, once the organisation's week has begun (Monday 08:00 in
`Settings.org_timezone`, or the first scan after it), one mail per member of each team for
the week before: its incidents and KPIs against the week before that, response targets, its
members' on-call load, and how it learns from the week's incidents (postmortems reviewed on
time; follow-ups done, open and overdue, as of the scan). Each mail is planned once (its key
names the team, the ISO week and the person) and sent by notify's mail job with its retries.
Only figures: no incident's title appears, so restricted incidents are counted without being
shown to anyone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tocsin.catalog.models import Team, User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.insights import kpis, learning, load
from tocsin.insights.filters import Filters, parse
from tocsin.insights.stats import duration_text
from tocsin.jobs.registry import JobKind, PeriodicJob
from tocsin.notify import mails

SCAN_JOB = "insights.weekly_report"
KIND = "insights-weekly"
SEND_AT = time(8, 0)  # Monday, the organisation's time

# The parts after the KPIs: each gives lines for a team's week.
Part = Callable[[Session, Filters, User, Settings], list[str]]


def on_call_lines(session: Session, f: Filters, reader: User, settings: Settings) -> list[str]:
    """The team's members' pages: how many, out of hours, asleep; the most paged."""
    found = load.compute(
        session,
        f,
        reader,
        working_days=settings.working_days,
        working_hours=settings.working_hours,
    )
    lines = ["ON CALL"]
    if not found.pages:
        return [*lines, "Nobody in the team was paged."]
    paged = [p for p in found.people if p.pages]
    lines.append(
        f"{found.pages} page{'s' if found.pages != 1 else ''} to {len(paged)} "
        f"{'people' if len(paged) != 1 else 'person'}: {found.out_of_hours} out of hours "
        f"({found.working_hours}), {found.sleep} during sleep (22:00–07:00, each in their "
        f"own time zone); median time to acknowledge {duration_text(found.median_tta)}."
    )
    lines += [
        f"- {p.name}: {p.pages} page{'s' if p.pages != 1 else ''}, {p.out_of_hours} out of "
        f"hours, {p.sleep} during sleep"
        for p in paged[:5]
    ]
    return lines


PARTS: tuple[Part, ...] = (on_call_lines,)


def _percent(share: float | None) -> str:
    return "no target decided" if share is None else f"{share * 100:.0f}%"


def _change(value: float | None) -> str:
    if value is None:
        return ""
    return f" ({'+' if value > 0 else ''}{value * 100:.0f}% on the week before)"


def kpi_lines(session: Session, f: Filters, reader: User) -> list[str]:
    result, _ = kpis.compute(session, f, utcnow())
    t = result.total
    if not t.volume:
        return [f"No incidents (the week before: {result.previous.volume})."]
    lines = [
        f"Incidents: {t.volume}{_change(result.changes['volume'])}; "
        f"the week before: {result.previous.volume}.",
        f"Time to acknowledge (MTTA): median {duration_text(t.mtta.median)}, "
        f"90th percentile {duration_text(t.mtta.p90)}.",
        f"Time to resolve (MTTR): median {duration_text(t.mttr.median)}, "
        f"90th percentile {duration_text(t.mttr.p90)}.",
        f"Time to detect (MTTD): median {duration_text(t.mttd.median)}.",
        f"Response targets met: {_percent(t.attainment.share)} "
        f"({t.attainment.met} met, {t.attainment.missed} missed"
        + (f", {t.attainment.pending} pending" if t.attainment.pending else "")
        + ").",
        "By severity: " + ", ".join(f"{g.label} {g.volume}" for g in result.by_severity) + ".",
    ]
    return lines


def _days(value: float) -> str:
    return f"{value:g} day{'s' if value != 1 else ''}"


def learning_lines(session: Session, f: Filters, reader: User, now: datetime) -> list[str]:
    """Postmortems of the week's incidents reviewed on time, and their follow-ups, as of
    `now`: counts only (the gaps and overdue lists name incidents, so they stay out)."""
    found = learning.compute(session, f, reader, now=now)
    a, fu = found.attainment, found.follow_ups
    lines = ["LEARNING"]
    policy = ", ".join(found.required_severities)
    if not a.required:
        why = f"required for {policy}" if policy else "no severity requires one"
        lines.append(f"No incident needed a postmortem ({why}).")
    else:
        share = "none due yet" if a.share is None else f"{a.share * 100:.0f}%"
        lines.append(
            f"Postmortems reviewed on time ({policy}): {share} "
            f"({a.on_time} on time, {a.late} late"
            + (f", {a.missing} missing" if a.missing else "")
            + (f", {a.not_due} not due yet" if a.not_due else "")
            + ")."
        )
    if not fu.created:
        return [*lines, "No follow-ups."]
    lines.append(
        f"Follow-ups: {fu.created} ({fu.done} done, {fu.wont_do} won't do, {fu.open} open, "
        f"{fu.overdue} overdue)."
    )
    median, p90, oldest = fu.age_median_days, fu.age_p90_days, fu.oldest_days
    if median is not None and p90 is not None and oldest is not None:  # some are open
        lines.append(
            f"Open follow-ups' age: median {_days(median)}, 90th percentile {_days(p90)}, "
            f"oldest {_days(oldest)}."
        )
    return lines


def report_body(
    session: Session,
    team: Team,
    f: Filters,
    reader: User,
    settings: Settings,
    parts: tuple[Part, ...],
    now: datetime,
) -> str:
    base = settings.base_url.rstrip("/")
    lines = [f"{team.name}, {f.label} ({f.timezone}).", "", "INCIDENTS"]
    lines += kpi_lines(session, f, reader)
    for part in parts:
        lines += ["", *part(session, f, reader, settings)]
    lines += ["", *learning_lines(session, f, reader, now)]
    lines += ["", f"The figures, and the incidents behind them: {base}/insights?{f.query()}"]
    return "\n".join(lines)


def week_to_report(now: datetime, timezone: str) -> str | None:
    """The Monday (ISO date) of the week to report on, once this week's report is due."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    if local < datetime.combine(monday, SEND_AT, tzinfo=zone):
        return None
    return (monday - timedelta(days=7)).isoformat()


def plan_reports(
    session: Session, now: datetime, settings: Settings, parts: tuple[Part, ...] = PARTS
) -> int:
    """Plan the week's report for every member of every team, once; how many were new."""
    if not settings.insights_weekly_report:
        return 0
    monday = week_to_report(now, settings.org_timezone)
    if monday is None:
        return 0
    planned = 0
    teams = session.scalars(select(Team).options(selectinload(Team.members)).order_by(Team.id))
    for team in teams:
        members = [u for u in team.members if u.active]
        if not members:
            continue
        f = parse(
            session,
            {"period": "week", "date": monday, "team": str(team.id)},
            now=now,
            timezone=settings.org_timezone,
        )
        year, week, _ = f.first_day.isocalendar()
        keys = {u.id: f"{KIND}:{team.id}:{year}-W{week:02d}:{u.id}" for u in members}
        done = mails.planned_keys(session, list(keys.values()))
        if done >= set(keys.values()):
            continue
        for user in members:
            if keys[user.id] in done:
                continue
            body = report_body(session, team, f, user, settings, parts, now)
            subject = f"{team.name}: incidents and on-call, {f.label}"
            planned += mails.plan(
                session, key=keys[user.id], kind=KIND, user=user, subject=subject, body=body
            )
    return planned


def job_kinds(settings: Settings) -> list[JobKind]:
    def scan(session: Session, payload: dict[str, Any]) -> None:
        # Its slot's time when that is later than now (a test queues a slot ahead).
        slot = payload.get("slot")
        now = utcnow()
        plan_reports(session, max(now, datetime.fromisoformat(slot)) if slot else now, settings)

    return [JobKind(SCAN_JOB, scan, max_attempts=1, timeout_seconds=300)]


def periodic() -> list[PeriodicJob]:
    return [PeriodicJob(SCAN_JOB, every=timedelta(hours=1))]
