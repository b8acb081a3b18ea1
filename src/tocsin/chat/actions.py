"""What a person can do from chat, each done as the Tocsin user linked to them and through
the same service function the web page calls: acknowledge, resolve, change severity, assign a
role, post an update (from the phase's template), add a note, page someone, escalate.

Each verb takes the words after it (`sev INC-12 SEV2`) and answers with a sentence. A domain
error (a transition not allowed, a name not found) is the answer, and the action's writes
are rolled back to a savepoint: nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User, UserRole
from tocsin.chat import channels
from tocsin.chat.models import ChatConnection, ChatIdentity
from tocsin.definitions.models import IncidentRole, Phase, Severity
from tocsin.errors import DomainError, Forbidden, NotFound, ValidationFailed
from tocsin.escalation.engine import acknowledge_pages, escalate, open_runs, page_people
from tocsin.incidents import roles as incident_roles
from tocsin.incidents import service as incidents
from tocsin.incidents.access import can_see
from tocsin.incidents.models import Incident
from tocsin.incidents.queries import get_incident
from tocsin.incidents.updates import post_update, render_template

REFERENCE = re.compile(r"^(?:INC-)?(\d{1,12})$", re.IGNORECASE)
# A person named in a command: Slack's <@U123|name>, Matrix's @alice:server, Mattermost's
# @alice, or a Tocsin account's email.
MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")


@dataclass(frozen=True)
class Context:
    """Who acts, where: the connection, the chat user and their Tocsin user, the channel."""

    connection: ChatConnection
    chat_user_id: str
    user: User
    channel_id: str


Verb = Callable[[Session, Context, Incident, str], str]


def incident_and_rest(session: Session, ctx: Context, words: str) -> tuple[Incident, str]:
    """The incident a command is about (named first, else the channel's own) and the words
    left; NotFound saying how to name one."""
    first, _, rest = words.strip().partition(" ")
    named = REFERENCE.match(first)
    if named is not None:
        return get_incident(session, f"INC-{named.group(1)}", viewer=ctx.user), rest.strip()
    channel = channels.channel_for(session, ctx.connection, ctx.channel_id)
    if channel is None:
        raise NotFound(
            "say which incident: for example `ack INC-12` (or use the incident's channel)"
        )
    if not can_see(session, ctx.user, channel.incident):
        raise NotFound(f"no incident {channel.incident.reference}")
    return channel.incident, words.strip()


def responder(ctx: Context) -> None:
    if not ctx.user.can(UserRole.responder):
        raise Forbidden(
            f"{ctx.user.name}'s Tocsin role is {ctx.user.role}: acting on incidents needs the "
            "responder role"
        )


def person(session: Session, ctx: Context, word: str) -> User:
    """A Tocsin user from a chat mention (Slack's <@U123>, Matrix's @alice:server, or a
    linked person's chat username, @bob), or a Tocsin email or name."""
    word = word.strip()
    mention = MENTION.match(word)
    chat_id = mention.group(1) if mention else word
    named = [ChatIdentity.chat_user_id == chat_id]
    if word.startswith("@") and len(word) > 1:
        named.append(ChatIdentity.chat_user_name == word[1:])
    found = session.scalar(
        select(ChatIdentity).where(ChatIdentity.connection_id == ctx.connection.id, or_(*named))
    )
    if found is not None and found.user.active:
        return found.user
    bare = word.removeprefix("@")
    user = session.scalar(
        select(User).where(
            User.active.is_(True),
            User.is_person,
            or_(func.lower(User.email) == bare.lower(), func.lower(User.name) == bare.lower()),
        )
    )
    if user is None:
        raise NotFound(
            f"nobody in Tocsin is {word}: name a linked chat user, or the person's Tocsin "
            "email or name"
        )
    return user


def ack(session: Session, ctx: Context, incident: Incident, rest: str) -> str:
    responder(ctx)
    acknowledge_pages(session, incident, by=ctx.user)
    return f"{ctx.user.name} acknowledged {incident.reference}: paging stops."


def resolve(session: Session, ctx: Context, incident: Incident, rest: str) -> str:
    responder(ctx)
    incidents.resolve(session, incident, by=ctx.user, summary=rest)
    return f"{ctx.user.name} resolved {incident.reference}."


def severity(session: Session, ctx: Context, incident: Incident, rest: str) -> str:
    responder(ctx)
    name = rest.strip()
    found = session.scalar(select(Severity).where(func.lower(Severity.name) == name.lower()))
    if found is None:
        names = ", ".join(session.scalars(select(Severity.name).order_by(Severity.rank)))
        raise ValidationFailed(f"no severity {name!r}: one of {names}")
    incidents.edit(session, incident, {"severity_id": found.id}, by=ctx.user)
    return f"{ctx.user.name} changed {incident.reference}'s severity to {found.name}."


def role(session: Session, ctx: Context, incident: Incident, rest: str) -> str:
    responder(ctx)
    slug, _, who = rest.strip().partition(" ")
    found = session.scalar(
        select(IncidentRole).where(
            or_(
                func.lower(IncidentRole.slug) == slug.lower(),
                func.lower(IncidentRole.name) == slug.lower(),
            )
        )
    )
    if found is None or not who.strip():
        names = ", ".join(
            session.scalars(select(IncidentRole.slug).order_by(IncidentRole.position))
        )
        raise ValidationFailed(f"say `role <role> <person>`; the roles are {names}")
    holder = person(session, ctx, who)
    incident_roles.assign_role(session, incident, role_id=found.id, user_id=holder.id, by=ctx.user)
    return f"{holder.name} is now {found.name} of {incident.reference}."


def update(session: Session, ctx: Context, incident: Incident, rest: str) -> str:
    """`update [internal|external] [investigating|identified|monitoring|resolved] [text]`:
    without text, the phase's template filled from the incident."""
    responder(ctx)
    words = rest.split()
    visibility = "internal"
    if words and words[0].lower() in ("internal", "external"):
        visibility = words.pop(0).lower()
    phases = [p.value for p in Phase]
    phase = (
        words.pop(0).lower() if words and words[0].lower() in phases else incident_phase(incident)
    )
    body = " ".join(words).strip() or render_template(
        session, incident, phase, tz=ctx.user.timezone
    )
    post_update(session, incident, phase=phase, body=body, visibility=visibility, by=ctx.user)
    return f"{ctx.user.name} posted an {visibility} {phase} update on {incident.reference}."


def incident_phase(incident: Incident) -> str:
    """The phase an update continues: the incident's own, else investigating."""
    phases = [p.value for p in Phase]
    return incident.status if incident.status in phases else Phase.investigating.value


def note(session: Session, ctx: Context, incident: Incident, rest: str) -> str:
    if not rest.strip():
        raise ValidationFailed("say `note <text>`")
    responder(ctx)
    incidents.add_note(session, incident, rest.strip(), by=ctx.user)
    return f"Added to {incident.reference}'s timeline."


def page(session: Session, ctx: Context, incident: Incident, rest: str) -> str:
    responder(ctx)
    names = [w for w in rest.split() if w]
    if not names:
        raise ValidationFailed("say `page <person> [<person>…]`")
    paged = [person(session, ctx, w) for w in names]
    page_people(session, incident, by=ctx.user, user_ids=[u.id for u in paged])
    return f"Paging {', '.join(u.name for u in paged)} for {incident.reference}."


def escalate_next(session: Session, ctx: Context, incident: Incident, rest: str) -> str:
    responder(ctx)
    runs = open_runs(incident)
    level = max((run.level for run in runs), default=0) + 2
    escalate(session, incident, level=level, by=ctx.user)
    return f"{ctx.user.name} escalated {incident.reference} to level {level}."


VERBS: dict[str, Verb] = {
    "ack": ack,
    "acknowledge": ack,
    "resolve": resolve,
    "sev": severity,
    "severity": severity,
    "role": role,
    "update": update,
    "note": note,
    "page": page,
    "escalate": escalate_next,
}


def perform(session: Session, ctx: Context, verb: str, words: str) -> str:
    """Do one verb as the context's user; the answer, or the reason nothing was done."""
    act = VERBS[verb]
    try:
        with session.begin_nested():
            incident, rest = incident_and_rest(session, ctx, words)
            return act(session, ctx, incident, rest)
    except DomainError as exc:
        return f"Nothing was done: {exc}"
