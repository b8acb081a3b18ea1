"""Pure decisions about a channel and an incident: does the channel apply, may this person
post to it, who may post (in words). No database access beyond loaded relationships."""

from __future__ import annotations

from tocsin.catalog.models import User, UserRole
from tocsin.comms.models import Audience, CommsChannel, Impact
from tocsin.incidents.models import Incident

USER_ROLE_NAMES = {"admin": "admins", "responder": "responders"}


def has_customer_impact(incident: Incident) -> bool:
    return bool((incident.customer_impact or "").strip())


def matches(channel: CommsChannel, incident: Incident) -> bool:
    """The channel's conditions (severities, services, customer impact) fit the incident."""
    if channel.severities and incident.severity_id not in {s.id for s in channel.severities}:
        return False
    if channel.services:
        wanted = {s.id for s in channel.services}
        if not any(s.id in wanted for s in incident.services):
            return False
    impact = Impact(channel.customer_impact)
    if impact == Impact.yes and not has_customer_impact(incident):
        return False
    return not (impact == Impact.no and has_customer_impact(incident))


def excluded(channel: CommsChannel, incident: Incident) -> str | None:
    """Why a channel whose conditions fit must still not hear about this incident, or None.

    Restricted incidents reach only internal channels marked for them; drills never reach an
    external audience (as they never reach a status page)."""
    external = channel.audience == Audience.external
    if incident.restricted and (external or not channel.include_restricted):
        return "the incident is restricted"
    if incident.drill and external:
        return "drills are not sent to external channels"
    return None


def applies(channel: CommsChannel, incident: Incident) -> bool:
    return matches(channel, incident) and excluded(channel, incident) is None


def conditions_text(channel: CommsChannel) -> str:
    """ "SEV1, SEV2 · Checkout · with customer impact", or "every incident"."""
    parts = []
    if channel.severities:
        parts.append(", ".join(s.name for s in channel.severities))
    if channel.services:
        parts.append(", ".join(s.name for s in channel.services))
    impact = Impact(channel.customer_impact)
    if impact == Impact.yes:
        parts.append("with customer impact")
    elif impact == Impact.no:
        parts.append("without customer impact")
    if channel.include_restricted:
        parts.append("restricted ones too")
    return " · ".join(parts) or "every incident"


def may_post(channel: CommsChannel, incident: Incident, user: User | None) -> bool:
    """Whether `user` may post to the channel for this incident. None is Tocsin itself.

    Viewers never post; with no restriction any responder may; otherwise a listed user role
    or holding a listed incident role is enough."""
    if user is None:
        return True
    if not user.can(UserRole.responder):
        return False
    roles = set(channel.post_user_roles or [])
    slugs = {r.slug for r in channel.post_incident_roles}
    if not roles and not slugs:
        return True
    if any(user.can(UserRole(role)) for role in roles):  # "responder" includes admins
        return True
    held = {a.role.slug for a in incident.role_assignments if a.user_id == user.id}
    return bool(held & slugs)


def posters_text(channel: CommsChannel) -> str:
    """Who may post, in words: "admins or the Incident Commander", "any responder"."""
    names = [USER_ROLE_NAMES.get(r, r) for r in channel.post_user_roles or []]
    names += [f"the {r.name}" for r in channel.post_incident_roles]
    if not names:
        return "any responder"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]
