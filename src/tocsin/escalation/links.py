"""What the acknowledge and resolve links in a page do, for the person they were sent to.

The tokens are notify's (`notify.links`: issued into each page, stored hashed, single use).
Acknowledging is escalation's `acknowledge_pages`: the incident while it is triggered (its paging
stops in reaction), else the pages sent into it since. Opening a link (GET) only shows a
confirmation: mail scanners fetch links, so only the POST acts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tocsin.errors import InvalidTransition
from tocsin.escalation.engine import acknowledge_pages, open_runs
from tocsin.incidents import service as incidents
from tocsin.incidents.access import name_for
from tocsin.incidents.models import Incident, Status
from tocsin.notify.links import LinkState, look_up, spend
from tocsin.notify.models import ActionKind


def already_done(incident: Incident, action: str, name: str | None = None) -> str | None:
    """Why `action` no longer applies to the incident, or None if it does. `name`: how to
    name it to the person (its codename to someone outside a private incident)."""
    name = name or incident.reference
    status = Status(incident.status)
    if status in (Status.resolved, Status.closed):
        return f"{name} is already {status.value}."
    if action == ActionKind.acknowledge and status != Status.triggered:
        if open_runs(incident):
            return None  # paged by hand after it was acknowledged: this acknowledges the page
        return f"{name} is already acknowledged ({status.value})."
    return None


def use(session: Session, raw: str) -> tuple[LinkState, str]:
    """Perform the link's action as the person it was sent to; the link is then spent.

    Returns the link's state and a sentence for the result page."""
    state = look_up(session, raw)
    if state.problem is not None or state.token is None:
        return state, state.problem or "This link is not valid."
    token = state.token
    incident = token.incident
    done = already_done(incident, token.action, name_for(session, token.user, incident))
    if done is not None:
        return LinkState(token, done, 409), done
    try:
        if token.action == ActionKind.acknowledge:
            acknowledge_pages(session, incident, by=token.user)
        else:
            incidents.resolve(session, incident, by=token.user)
    except InvalidTransition as exc:
        return LinkState(token, exc.message, 409), exc.message
    spend(session, token)
    verb = "acknowledged" if token.action == ActionKind.acknowledge else "resolved"
    return state, f"{name_for(session, token.user, incident)} {verb} by {token.user.name}."
