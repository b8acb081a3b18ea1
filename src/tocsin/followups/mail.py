"""Reminders to a follow-up's owner and each team's weekly digest of overdue follow-ups.

A periodic scan (`SCAN_JOB`, hourly) plans the mails due on its day: a `FollowUpMail` row per
mail, whose unique key makes it once however often the scan runs, and a job that sends it
through the one delivery module (notify/delivery.py), after commit, with its retries.

- Before the due date: `REMIND_BEFORE_DAYS` days before it (or on the first scan after that
  point, up to the due date itself).
- Overdue: on the first overdue day, then every `REMIND_EVERY_DAYS` while the item is open.
- Never for a done or cancelled ("won't do") item, nor for one without an owner (it still
  counts in its teams' digests). The owner and the status are checked again when it is sent.
- The digest: once per ISO week per team, on the first scan of the week that finds the team
  with an overdue follow-up (items of incidents on the team's services), to every active
  member of the team, its admins (the team's managers) included; each lists only the items
  of incidents that person may read.

Why a scan rather than a timer job per item: a due date, a status or an owner can change at
any time through any surface; a scan reads them as they are, so nothing needs rescheduling
or cancelling, and a day the workers were down is made up by the next scan.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tocsin.catalog.models import Team, User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.followups.models import FollowUpMail, MailKind
from tocsin.followups.queries import UNFINISHED, on_team
from tocsin.incidents.access import hidden_ids
from tocsin.incidents.models import ActionItem, ActionKind
from tocsin.jobs.queue import enqueue
from tocsin.jobs.registry import Handler, JobKind, PeriodicJob
from tocsin.notify.channels import EmailChannel
from tocsin.notify.delivery import (
    Outcome,
    Purpose,
    Refusal,
    Result,
    RetryPolicy,
    Target,
    handler,
)

SCAN_JOB = "followups.scan"
SEND_JOB = "followups.send"
REMIND_BEFORE_DAYS = 2
REMIND_EVERY_DAYS = 7
WAITING = "planned"


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
            MailKind.due_soon.value,
            f"due_soon:{item.id}:{due.isoformat()}",
            f"Follow-up due {'today' if ahead == 0 else due.isoformat()}: {item.title}",
            "\n".join([f"{_item_line(item, today)} is due {when}.", *about]),
        )
    if ahead < 0:
        late = -ahead
        week = (late - 1) // REMIND_EVERY_DAYS
        return (
            MailKind.overdue.value,
            f"overdue:{item.id}:{due.isoformat()}:{week}",
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


def _plan(
    session: Session, mails: list[FollowUpMail], existing: Iterable[str] | None = None
) -> int:
    """Add the mails whose key is new, each with its sending job; returns how many."""
    if not mails:
        return 0
    keys = [m.key for m in mails]
    known = set(existing or ()) | set(
        session.scalars(select(FollowUpMail.key).where(FollowUpMail.key.in_(keys)))
    )
    added = 0
    for mail in mails:
        if mail.key in known:
            continue
        known.add(mail.key)
        session.add(mail)
        session.flush()
        enqueue(session, SEND_JOB, {"mail_id": mail.id}, key=f"{SEND_JOB}:{mail.id}")
        added += 1
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
        .options(selectinload(ActionItem.incident))
    ).all()
    mails = []
    for item in items:
        owed = _reminder(item, today, base)
        if owed is None or item.assignee_id is None:
            continue
        kind, key, subject, body = owed
        mails.append(
            FollowUpMail(
                key=key,
                kind=kind,
                user_id=item.assignee_id,
                action_item_id=item.id,
                subject=subject,
                body=body,
            )
        )
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
        keys = {u.id: f"digest:{team.id}:{year}-W{week:02d}:{u.id}" for u in members}
        sent = set(
            session.scalars(select(FollowUpMail.key).where(FollowUpMail.key.in_(keys.values())))
        )
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
            mails.append(
                FollowUpMail(
                    key=keys[user.id],
                    kind=MailKind.digest.value,
                    user_id=user.id,
                    team_id=team.id,
                    subject=subject,
                    body="\n".join(_digest_body(team, shown, today, base)),
                )
            )
    return _plan(session, mails)


def scan(session: Session, today: date, settings: Settings) -> int:
    """Plan every reminder and digest owed on `today`; returns how many mails were new."""
    return plan_reminders(session, today, settings) + plan_digests(session, today, settings)


# --- sending -----------------------------------------------------------------------------


class FollowUpMails(Purpose[FollowUpMail]):
    """One reminder or digest, by email to one person's account address."""

    job = SEND_JOB
    payload_key = "mail_id"
    waiting = WAITING

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.email = EmailChannel(settings)

    def load(self, session: Session, ident: int) -> FollowUpMail | None:
        return session.get(FollowUpMail, ident, with_for_update=True)

    def why_not(self, session: Session, record: FollowUpMail) -> str | None:
        if not record.user.active:
            return "the account is deactivated"
        if record.kind == MailKind.digest.value:
            team = session.get(Team, record.team_id) if record.team_id else None
            if team is None:
                return "the team was deleted"
            return None if record.user in team.members else "no longer a member of the team"
        item = session.get(ActionItem, record.action_item_id) if record.action_item_id else None
        if item is None:
            return "the follow-up was deleted"
        if item.status not in UNFINISHED:
            return f"the follow-up is {item.status.replace('_', ' ')}"
        if item.assignee_id != record.user_id:
            return "the follow-up was given to someone else"
        return None

    def targets(self, session: Session, record: FollowUpMail) -> list[Target] | Refusal:
        user = record.user
        mail = EmailMessage()
        mail["Subject"] = record.subject
        mail["From"] = formataddr(("Tocsin", self.settings.smtp_from))
        mail["To"] = formataddr((user.name, user.email))
        domain = self.settings.smtp_from.rpartition("@")[2] or "tocsin.invalid"
        mail["Message-ID"] = f"<tocsin-follow-up-{record.id}@{domain}>"  # the same on a resend
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(f"Hello {user.name},\n\n{record.body}\n")
        email = self.email

        def send() -> str:
            email.transmit(mail)
            return "sent"

        return [Target(f"mail:{user.email}", user.email, "email", send)]

    def attempted(self, session: Session, record: FollowUpMail, results: list[Result]) -> None:
        return None

    def concluded(self, session: Session, record: FollowUpMail, outcome: Outcome) -> None:
        pass  # the row is the mail's history


def job_kinds(settings: Settings) -> list[JobKind]:
    """The job kinds bootstrap registers (with `periodic()`)."""

    def scan_job(session: Session, payload: dict[str, Any]) -> None:
        scan(session, scan_day(payload), settings)

    send: Handler = handler(FollowUpMails(settings), RetryPolicy.from_settings(settings))
    return [
        JobKind(SCAN_JOB, scan_job, max_attempts=1, timeout_seconds=120),
        JobKind(SEND_JOB, send, max_attempts=3),
    ]


def periodic() -> list[PeriodicJob]:
    """Hourly: a reminder is planned within the hour its day starts (UTC), and a scan missed
    while no worker ran is made up by the next."""
    return [PeriodicJob(SCAN_JOB, every=timedelta(hours=1))]


__all__ = ["job_kinds", "periodic", "scan"]
