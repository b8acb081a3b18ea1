"""Reminders to a follow-up's owner and each team's weekly digest of overdue follow-ups.

A periodic scan (`SCAN_JOB`, hourly) plans the mails due on its day as plain mails of
notify's (notify/mails.py), whose unique key makes each once however often the scan runs;
notify sends them after commit, with its retries.

- Before the due date: `REMIND_BEFORE_DAYS` days before it (or on the first scan after that
  point, up to the due date itself).
- Overdue: on the first overdue day, then every `REMIND_EVERY_DAYS` while the item is open.
- Never for a done or cancelled ("won't do") item, nor for one without an owner (it still
  counts in its teams' digests). The owner and the status are checked again when it is sent
  (`MAIL_KINDS`' checks, which the composition root gives notify's mail delivery).
- The digest: once per ISO week per team, on the first scan of the week that finds the team
  with an overdue follow-up (items of incidents on the team's services), to every active
  member of the team, its admins (the team's managers) included; each lists only the items
  of incidents that person may read.

Why a scan rather than a timer job per item: a due date, a status or an owner can change at
any time through any surface; a scan reads them as they are, so nothing needs rescheduling
or cancelling, and a day the workers were down is made up by the next scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tocsin.catalog.models import Team, User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.followups.queries import UNFINISHED, on_team
from tocsin.incidents.access import hidden_ids
from tocsin.incidents.models import ActionItem, ActionKind
from tocsin.jobs.registry import JobKind, PeriodicJob
from tocsin.notify import mails as notify_mails
from tocsin.notify.models import Mail

SCAN_JOB = "followups.scan"
REMIND_BEFORE_DAYS = 2
REMIND_EVERY_DAYS = 7
# The kinds of mail (notify's `Mail.kind`); their keys start "follow-up:".
DUE_SOON = "followup_due_soon"  # to the owner, a few days before the due date
OVERDUE = "followup_overdue"  # to the owner, on the first overdue day, then weekly while open
DIGEST = "followup_digest"  # to a team's members: the team's overdue follow-ups, weekly


@dataclass(frozen=True)
class _Owed:
    """A mail the scan found owed: "follow-up:due_soon:{item}:{due date}",
    "follow-up:overdue:{item}:{due date}:{week}", "follow-up:digest:{team}:{ISO week}:{user}".
    A changed due date is a new key, so a new reminder."""

    key: str
    kind: str
    user: User
    subject: str
    body: str
    context: dict[str, int]  # what the check at send time reads: the item or the team


def scan_day(payload: dict[str, Any]) -> date:
    """The day a scan plans for (UTC): today, or its slot's day if that is later (a test
    queues a slot days ahead to make days pass; a late slot plans for today, not the past)."""
    today = utcnow().date()
    slot = payload.get("slot")
    return max(today, datetime.fromisoformat(slot).date()) if isinstance(slot, str) else today


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def _item_line(item: ActionItem, today: date) -> str:
    incident = item.incident
    return f"{incident.reference}'s follow-up “{item.title}” ({incident.title})"


def _reminder(item: ActionItem, today: date, base: str) -> tuple[str, str, str, str] | None:
    """(kind, key, subject, body) of the reminder `item` is owed on `today`, or None."""
    due = item.due_date
    if due is None:
        return None
    ahead = (due - today).days
    link = f"{base}/incidents/{item.incident.reference}#action-items"
    mine = f"{base}/follow-ups?assignee={item.assignee_id}"
    about = [
        f"Priority: {item.priority}" + (f" · tags: {', '.join(item.tags)}" if item.tags else ""),
        "",
        link,
        f"All your follow-ups: {mine}",
    ]
    if 0 <= ahead <= REMIND_BEFORE_DAYS:
        when = "today" if ahead == 0 else f"in {_days(ahead)}, on {due.isoformat()}"
        return (
            DUE_SOON,
            f"follow-up:due_soon:{item.id}:{due.isoformat()}",
            f"Follow-up due {'today' if ahead == 0 else due.isoformat()}: {item.title}",
            "\n".join([f"{_item_line(item, today)} is due {when}.", *about]),
        )
    if ahead < 0:
        late = -ahead
        week = (late - 1) // REMIND_EVERY_DAYS
        return (
            OVERDUE,
            f"follow-up:overdue:{item.id}:{due.isoformat()}:{week}",
            f"Overdue follow-up ({_days(late)}): {item.title}",
            "\n".join(
                [
                    f"{_item_line(item, today)} was due on {due.isoformat()}: {_days(late)} "
                    "overdue.",
                    *about,
                ]
            ),  # fmt: skip
        )
    return None


def _plan(session: Session, owed: list[_Owed]) -> int:
    """Plan the mails whose key is new (notify sends them after commit); returns how many."""
    known = notify_mails.planned_keys(session, [m.key for m in owed])
    added = 0
    for mail in owed:
        if mail.key in known:
            continue
        known.add(mail.key)
        added += notify_mails.plan(
            session,
            key=mail.key,
            kind=mail.kind,
            user=mail.user,
            subject=mail.subject,
            body=mail.body,
            context=mail.context,
        )
    return added


def plan_reminders(session: Session, today: date, settings: Settings) -> int:
    """Plan the owners' reminders owed on `today`; returns how many were new."""
    base = settings.base_url.rstrip("/")
    items = session.scalars(
        select(ActionItem)
        .join(User, User.id == ActionItem.assignee_id)
        .where(
            ActionItem.kind == ActionKind.follow_up.value,
            ActionItem.status.in_(UNFINISHED),
            ActionItem.due_date.is_not(None),
            ActionItem.due_date <= today + timedelta(days=REMIND_BEFORE_DAYS),
            User.active.is_(True),
        )
        .options(selectinload(ActionItem.incident), selectinload(ActionItem.assignee))
    ).all()
    mails = []
    for item in items:
        owed = _reminder(item, today, base)
        if owed is None or item.assignee is None:
            continue
        kind, key, subject, body = owed
        mails.append(_Owed(key, kind, item.assignee, subject, body, {"action_item_id": item.id}))
    return _plan(session, mails)


def overdue_of_team(session: Session, team: Team, today: date) -> list[ActionItem]:
    """The team's overdue follow-ups (of incidents on its services), most overdue first."""
    return list(
        session.scalars(
            select(ActionItem)
            .where(
                ActionItem.kind == ActionKind.follow_up.value,
                ActionItem.status.in_(UNFINISHED),
                ActionItem.due_date.is_not(None),
                ActionItem.due_date < today,
                on_team(team.id),
            )
            .order_by(ActionItem.due_date, ActionItem.id)
            .options(selectinload(ActionItem.incident))
        ).all()
    )


def _digest_body(team: Team, items: list[ActionItem], today: date, base: str) -> list[str]:
    lines = [
        f"{len(items)} follow-up{'s' if len(items) != 1 else ''} of {team.name}'s "
        f"incidents {'are' if len(items) != 1 else 'is'} overdue:",
        "",
    ]
    for item in items:
        late = item.days_overdue(today)
        owner = item.assignee.name if item.assignee else "unassigned"
        lines.append(
            f"- {_item_line(item, today)}: {_days(late)} overdue "
            f"(due {item.due_date.isoformat() if item.due_date else ''}), {owner}, "
            f"{item.priority} priority"
        )
    return [*lines, "", f"{base}/follow-ups?team={team.id}&overdue=1"]


def plan_digests(session: Session, today: date, settings: Settings) -> int:
    """Plan this ISO week's digest for each team with something overdue, to every active
    member of the team (its admins are its managers); each lists only the follow-ups of
    incidents that person may read. Returns how many mails were new."""
    base = settings.base_url.rstrip("/")
    year, week, _ = today.isocalendar()
    mails = []
    teams = session.scalars(select(Team).options(selectinload(Team.members))).all()
    for team in teams:
        members = [u for u in team.members if u.active]
        if not members:
            continue
        keys = {u.id: f"follow-up:digest:{team.id}:{year}-W{week:02d}:{u.id}" for u in members}
        sent = notify_mails.planned_keys(session, list(keys.values()))
        if sent >= set(keys.values()):
            continue  # this week's digest went out already
        items = overdue_of_team(session, team, today)
        for user in members:
            if keys[user.id] in sent:
                continue
            # A restricted incident's follow-ups only to those who may read the incident.
            hidden = hidden_ids(session, user, {item.incident_id for item in items})
            shown = [item for item in items if item.incident_id not in hidden]
            if not shown:
                continue
            subject = f"{team.name}: {len(shown)} overdue follow-up{'s' if len(shown) != 1 else ''}"
            body = "\n".join(_digest_body(team, shown, today, base))
            mails.append(_Owed(keys[user.id], DIGEST, user, subject, body, {"team_id": team.id}))
    return _plan(session, mails)


def scan(session: Session, today: date, settings: Settings) -> int:
    """Plan every reminder and digest owed on `today`; returns how many mails were new."""
    return plan_reminders(session, today, settings) + plan_digests(session, today, settings)


# --- sending: notify's mail delivery asks, when each goes ----------------------------------


def _digest_why_not(session: Session, mail: Mail) -> str | None:
    team = session.get(Team, int(mail.context.get("team_id", 0)))
    if team is None:
        return "the team was deleted"
    return None if mail.user in team.members else "no longer a member of the team"


def _reminder_why_not(session: Session, mail: Mail) -> str | None:
    item = session.get(ActionItem, int(mail.context.get("action_item_id", 0)))
    if item is None:
        return "the follow-up was deleted"
    if item.status not in UNFINISHED:
        return f"the follow-up is {item.status.replace('_', ' ')}"
    if item.assignee_id != mail.user_id:
        return "the follow-up was given to someone else"
    return None


MAIL_KINDS = (
    notify_mails.MailKind(DUE_SOON, "follow-up reminder", _reminder_why_not),
    notify_mails.MailKind(OVERDUE, "overdue follow-up reminder", _reminder_why_not),
    notify_mails.MailKind(DIGEST, "follow-up digest", _digest_why_not),
)


def job_kinds(settings: Settings) -> list[JobKind]:
    """The scan's job kind, which bootstrap registers (with `periodic()`)."""

    def scan_job(session: Session, payload: dict[str, Any]) -> None:
        scan(session, scan_day(payload), settings)

    return [JobKind(SCAN_JOB, scan_job, max_attempts=1, timeout_seconds=120)]


def periodic() -> list[PeriodicJob]:
    """Hourly: a reminder is planned within the hour its day starts (UTC), and a scan missed
    while no worker ran is made up by the next."""
    return [PeriodicJob(SCAN_JOB, every=timedelta(hours=1))]


__all__ = ["MAIL_KINDS", "job_kinds", "periodic", "scan"]
