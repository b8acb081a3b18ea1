"""Doing one action of a workflow through the owning domain's service function, and saying
what happened in words. `problem` is the read-only check shared with the dry run: what makes
an action impossible before anything is tried (a deleted runbook or role, an unknown name)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Team, User, UserRole
from tocsin.comms import sending as comms
from tocsin.comms.models import CommsChannel, DeliveryState
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole, Phase, Priority, Severity
from tocsin.errors import DomainError
from tocsin.escalation import engine as escalation
from tocsin.escalation.models import EscalationRun
from tocsin.escalation.walk import pageable_members
from tocsin.incidents import actions as action_items
from tocsin.incidents import roles
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident, Status
from tocsin.incidents.updates import post_update
from tocsin.postmortems import service as postmortems
from tocsin.roster import paging as roster_paging
from tocsin.roster import service as roster
from tocsin.runbooks import service as runbooks
from tocsin.runbooks.models import Runbook
from tocsin.schedules.models import Schedule
from tocsin.schedules.oncall import on_call_many
from tocsin.webhooks.service import display_url
from tocsin.workflows import delivery
from tocsin.workflows.actions import (
    Action,
    AddRunbook,
    AssignRole,
    CallWebhook,
    CreateActionItem,
    NotifyStakeholders,
    Page,
    PostInternalUpdate,
    PostToChannel,
    SendEmail,
    SetPriority,
    SetSeverity,
    StartPostmortem,
)
from tocsin.workflows.models import WorkflowRun

NOT_ACKNOWLEDGED = "the incident is not acknowledged yet (an update would stop its paging)"


def problem(session: Session, action: Action) -> str | None:
    """Why `action` cannot be done at all (what it refers to is gone), without writing."""
    match action:
        case AddRunbook(runbook_id=rid):
            book = session.get(Runbook, rid)
            if book is None or book.deleted_at is not None:
                return f"runbook {rid} was deleted"
        case AssignRole(role=slug, user_id=uid, schedule_id=sid):
            if _role(session, slug) is None:
                return f"role '{slug}' was deleted"
            if uid is not None and _person(session, uid) is None:
                return f"user {uid} was deleted or deactivated"
            if sid is not None and session.get(Schedule, sid) is None:
                return f"schedule {sid} was deleted"
        case Page(target="person", user_id=uid) if uid is not None:
            if _person(session, uid) is None:
                return f"user {uid} was deleted or deactivated"
        case Page(target="schedule", schedule_id=sid) if sid is not None:
            if session.get(Schedule, sid) is None:
                return f"schedule {sid} was deleted"
        case Page(target="team", team_id=tid) if tid is not None:
            if session.get(Team, tid) is None:
                return f"team {tid} was deleted"
        case PostToChannel(channel_id=cid) if cid is not None:
            channel = session.get(CommsChannel, cid)
            if channel is None:
                return f"channel {cid} was deleted"
            if not channel.sendable:
                return f"Tocsin cannot post to channel “{channel.name}” (posted to by hand)"
        case SetSeverity(severity=name):
            if _by_name(session, Severity, name) is None:
                return f"severity '{name}' does not exist"
        case SetPriority(priority=name):
            if _by_name(session, Priority, name) is None:
                return f"priority '{name}' does not exist"
    return None


def _role(session: Session, slug: str) -> IncidentRole | None:
    return session.scalar(select(IncidentRole).where(IncidentRole.slug == slug))


def _person(session: Session, user_id: int) -> User | None:
    user = session.get(User, user_id)
    return user if user is not None and user.active else None


def _by_name(session: Session, model: type[Severity] | type[Priority], name: str) -> int | None:
    return session.scalar(select(model.id).where(model.name == name))


def actor(session: Session, author_id: int | None, incident: Incident) -> User | None:
    """Whom a workflow acts as where a service needs a person (paging): its author, else
    whoever declared the incident, else the first active admin."""
    for uid in (author_id, incident.created_by_id):
        if uid is not None and (user := _person(session, uid)) is not None:
            return user
    return session.scalar(
        select(User)
        .where(User.role == UserRole.admin, User.active, User.is_person)
        .order_by(User.id)
        .limit(1)
    )


@dataclass(frozen=True)
class Context:
    """Where an action is done: its run, its index in the workflow (with the run, the key of
    what it sends: a repeat sends nothing more), and the server's base URL for links."""

    run: WorkflowRun
    index: int
    base_url: str

    @property
    def key(self) -> str:
        return f"wf-run:{self.run.id}:{self.index}"


def perform(
    session: Session, incident: Incident, action: Action, by: User | None, ctx: Context
) -> str:
    """Do `action` and say what happened ("done: …", "skipped: …"). A domain error is
    raised to the caller, which records it as "failed: …"."""
    reason = problem(session, action)
    if reason is not None:
        return f"skipped: {reason}"
    match action:
        case AddRunbook(runbook_id=rid):
            book = session.get(Runbook, rid)
            assert book is not None
            runbooks.attach(session, incident, book, by=None)
            return f"done: attached runbook “{book.name}”"
        case AssignRole():
            return _assign(session, incident, action, by)
        case Page():
            return _page(session, incident, action, by)
        case PostInternalUpdate(body=body):
            if Status(incident.status) == Status.triggered:
                # An update moves the incident to its phase: out of triggered, which stops
                # its paging as an acknowledgement would.
                return f"skipped: {NOT_ACKNOWLEDGED}"
            post_update(session, incident, phase=_phase(incident), body=body, by=None)
            return "done: posted an internal update"
        case SetSeverity(severity=name):
            incidents.edit(
                session, incident, {"severity_id": _by_name(session, Severity, name)}, by=None
            )
            return f"done: severity set to {name}"
        case SetPriority(priority=name):
            incidents.edit(
                session, incident, {"priority_id": _by_name(session, Priority, name)}, by=None
            )
            return f"done: priority set to {name}"
        case CreateActionItem(title=title, description=description):
            action_items.add_action_item(
                session, incident, title=title, description=description, by=None
            )
            return f"done: action item “{title}” created"
        case StartPostmortem():
            postmortems.start(session, incident, by=None)
            return "done: postmortem started"
        case PostToChannel():
            return _post(session, incident, action, ctx)
        case NotifyStakeholders(message=text):
            planned = comms.notify_stakeholders(session, incident, text, key=ctx.key)
            if not planned:
                return "skipped: the incident has no stakeholders who may see it"
            return f"done: told the stakeholders: {', '.join(d.recipient for d in planned)}"
        case SendEmail(to=to, subject=subject, body=body):
            delivery.plan(session, ctx.run, incident, kind="email", target=to, subject=subject,
                          body=body, base_url=ctx.base_url)  # fmt: skip
            return f"done: email to {to} queued"
        case CallWebhook(url=url):
            delivery.plan(session, ctx.run, incident, kind="webhook", target=url,
                          base_url=ctx.base_url)  # fmt: skip
            return f"done: webhook call to {display_url(url)} queued"
    # set_field: the only kind left (wait is the runner's).
    key, value = action.key, action.value  # type: ignore[union-attr]
    incidents.edit(session, incident, {"custom_fields": {key: value}}, by=None)
    return f"done: field '{key}' set to {value!r}"


def _phase(incident: Incident) -> str:
    """An internal update keeps the incident where it is (an acknowledged one is being
    investigated)."""
    phases = {p.value for p in Phase}
    return incident.status if incident.status in phases else Phase.investigating.value


def _assign(session: Session, incident: Incident, action: AssignRole, by: User | None) -> str:
    role = _role(session, action.role)
    assert role is not None
    if action.user_id is not None:
        roles.assign_role(session, incident, role_id=role.id, user_id=action.user_id, by=None)
        person = session.get(User, action.user_id)
        return f"done: {role.name} given to {person.name if person else action.user_id}"
    if action.schedule_id is not None:
        shifts = on_call_many(session, [action.schedule_id], utcnow())[action.schedule_id]
        on_call = list(dict.fromkeys(s.user_id for s in shifts))
        if not on_call:
            return f"skipped: nobody is on call in schedule {action.schedule_id}"
        # A role with one holder goes to the first on call; a role for several, to each.
        given = on_call if role.multiple else on_call[:1]
        for user_id in given:
            roles.assign_role(session, incident, role_id=role.id, user_id=user_id, by=None)
        names = [u.name for uid in given if (u := session.get(User, uid)) is not None]
        return f"done: {role.name} given to {', '.join(names)} (on call in the schedule)"
    if by is None:
        return "skipped: nobody to act as (no author, declarer or admin)"
    try:
        roster.assign_from_roster(session, incident, role_id=role.id, by=by)
    except DomainError as exc:
        return f"skipped: {exc}"
    holders = [a.user.name for a in incident.role_assignments if a.role_id == role.id]
    return f"done: {role.name} given to {', '.join(holders)} from the roster"


def _page(session: Session, incident: Incident, action: Page, by: User | None) -> str:
    if Status(incident.status) in (Status.resolved, Status.closed):
        return f"skipped: the incident is {incident.status}"
    if action.target == "service_policy":
        started = session.scalar(
            select(EscalationRun.id).where(EscalationRun.incident_id == incident.id).limit(1)
        )
        if started is not None:
            return "skipped: the services' escalation policies are already paging"
        runs = escalation.start_for_incident(session, incident.id)
        if not runs:
            return "skipped: no escalation policy to start (see the incident's timeline)"
        return f"done: started {len(runs)} escalation run(s) at {incident.urgency} urgency"
    if by is None:
        return "skipped: nobody to page on behalf of (no author, declarer or admin)"
    message = action.message or "Paged by a workflow"
    if action.target == "ic":
        try:
            page = roster_paging.page_the_ic(session, incident, by=by, urgency=action.urgency)
        except DomainError as exc:
            return f"skipped: {exc}"
        return f"done: paged the IC: {', '.join(p.name for p in page.paged)}"
    if action.target == "team":
        assert action.team_id is not None
        team = session.get(Team, action.team_id)
        try:
            escalation.page_people(
                session,
                incident,
                by=by,
                team_ids=[action.team_id],
                message=message,
                urgency=action.urgency,
            )
        except DomainError as exc:
            return f"skipped: {exc}"
        members = [m.name for m in pageable_members(team)] if team else []
        return f"done: paged team “{team.name if team else action.team_id}”: {', '.join(members)}"
    if action.target == "person":
        assert action.user_id is not None
        user_ids = [action.user_id]
    else:
        assert action.schedule_id is not None
        shifts = on_call_many(session, [action.schedule_id], utcnow())[action.schedule_id]
        user_ids = list(dict.fromkeys(s.user_id for s in shifts))
        if not user_ids:
            return f"skipped: nobody is on call in schedule {action.schedule_id}"
    escalation.page_people(
        session, incident, by=by, user_ids=user_ids, message=message, urgency=action.urgency
    )
    names = [u.name for uid in user_ids if (u := session.get(User, uid)) is not None]
    return f"done: paged {', '.join(names)}"


def _post(session: Session, incident: Incident, action: PostToChannel, ctx: Context) -> str:
    """To the chosen channel, or to every internal channel the incident's updates reach."""
    if action.channel_id is not None:
        channel = session.get(CommsChannel, action.channel_id)
        assert channel is not None
        channels = [channel]
        why = "chosen by a workflow"
    else:
        channels = comms.internal_channels(session, incident)
        why = "internal channel for this incident, by a workflow"
        if not channels:
            return "skipped: no internal channel of the registry reaches this incident"
    sent, refused = [], []
    for channel in channels:
        row = comms.post_message(
            session, incident, channel, action.message, key=f"{ctx.key}:channel:{channel.id}",
            why=why,
        )  # fmt: skip
        if row is None:
            continue
        if row.state == DeliveryState.skipped:
            refused.append(f"{channel.name}: {row.detail}")
        else:
            sent.append(channel.name)
    if not sent:
        return f"skipped: {'; '.join(refused) or 'already posted'}"
    done = f"done: posted to {', '.join(sent)}"
    return done + (f" (not to {'; '.join(refused)})" if refused else "")
