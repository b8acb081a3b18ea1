"""Who may see an incident: the one policy every surface asks.

An incident that is not private is visible to everyone signed in. A private one (a security
incident, say; the `restricted` column) is visible only to its members (`IncidentMember`: the
declarer, its role holders, and whoever its commander or an admin added) and to admins, who
are told they are reading one (`admin_reading`). To everyone else it does not exist: lists,
counts and search leave it out, and looking it up answers 404, as for a reference that was
never used. People paged for it or following its services are not let in by that: where they
must be told something exists, they are told its codename (`name_for`, `redact`), never its
number or title.

- `visible_filter(user)`: a SQL condition on `Incident`, for list and search queries, so that
  they stay one query and their counts and pages are right.
- `can_see(session, user, incident)`: the same answer for one incident.
- `hidden_numbers` and `redact`: for text that names incidents (INC-42), such as what became
  of an alert's events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import Case, ColumnElement, case, false, or_, select, true
from sqlalchemy.orm import Session

from tocsin.catalog.models import User, UserRole
from tocsin.incidents.models import Incident, IncidentMember, RoleAssignment

# What a hidden incident's reference becomes in text shown to someone who may not see it,
# when it has no codename.
HIDDEN = "a private incident"
REFERENCE_RE = re.compile(r"\bINC-(\d{1,12})\b")


def sees_everything(user: User) -> bool:
    """Admins see every incident."""
    return user.can(UserRole.admin)


def involved(user: User) -> ColumnElement[bool]:
    """A condition on `Incident`: `user` is one of its members (or holds one of its roles,
    which makes them one). A deactivated account is a member of nothing."""
    if not user.active:
        return false()
    member = select(IncidentMember.incident_id).where(IncidentMember.user_id == user.id)
    roles = select(RoleAssignment.incident_id).where(RoleAssignment.user_id == user.id)
    return or_(Incident.id.in_(member), Incident.id.in_(roles))


def visible_filter(user: User) -> ColumnElement[bool]:
    """A condition on `Incident`: the incidents `user` may see."""
    if sees_everything(user):
        return true()
    return or_(Incident.restricted.is_(False), involved(user))


def can_see(session: Session, user: User, incident: Incident) -> bool:
    """Whether `user` may see `incident` (one query, and only for a restricted one)."""
    return not incident.restricted or sees_when_restricted(session, user, incident)


def sees_when_restricted(session: Session, user: User, incident: Incident) -> bool:
    """Whether `user` may see `incident` were it private, whether it is or not: an admin or
    one of its members."""
    if sees_everything(user):
        return True
    return is_member(session, user, incident)


def is_member(session: Session, user: User, incident: Incident) -> bool:
    """Whether `user` is one of the incident's members."""
    found = session.scalar(select(Incident.id).where(Incident.id == incident.id, involved(user)))
    return found is not None


def admin_reading(session: Session, user: User, incident: Incident) -> bool:
    """Whether `user` reads a private incident only because they are an admin (not one of its
    members): the page tells them so, and the read is recorded."""
    return incident.restricted and sees_everything(user) and not is_member(session, user, incident)


def name_for(session: Session, user: User | None, incident: Incident) -> str:
    """How to name `incident` to `user`: its reference, or for a private incident they may not
    see, its codename (or "a private incident"), never its number or title."""
    if not incident.restricted or (user is not None and can_see(session, user, incident)):
        return incident.reference
    return outside_name(incident)


def outside_name(incident: Incident) -> str:
    """What people outside a private incident are told of it."""
    return incident.codename or HIDDEN


def hidden_numbers(session: Session, user: User, numbers: Iterable[int]) -> dict[int, str]:
    """Of these incident numbers (INC-42 is 42), the ones `user` may not see, each with what
    they are told instead (`outside_name`), in one query. Numbers of no incident are not in
    it."""
    wanted = set(numbers)
    if not wanted or sees_everything(user):
        return {}
    # CASE rather than NOT: an unknown (NULL) answer from the condition counts as hidden.
    shown: Case[bool] = case((visible_filter(user), True), else_=False)
    rows = session.execute(
        select(Incident.number, Incident.codename, shown).where(Incident.number.in_(wanted))
    )
    return {number: codename or HIDDEN for number, codename, visible in rows if not visible}


def hidden_ids(session: Session, user: User, ids: Iterable[int | None]) -> set[int]:
    """Of these incident ids, the ones `user` may not see, in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted or sees_everything(user):
        return set()
    shown: Case[bool] = case((visible_filter(user), True), else_=False)
    rows = session.execute(select(Incident.id, shown).where(Incident.id.in_(wanted)))
    return {incident_id for incident_id, visible in rows if not visible}


def numbers_in(texts: Iterable[str]) -> set[int]:
    """The incident numbers these texts name (INC-42)."""
    return {int(m.group(1)) for text in texts for m in REFERENCE_RE.finditer(text or "")}


def redact(text: str, hidden: Mapping[int, str] | set[int]) -> str:
    """`text` with each reference to a hidden incident replaced by its codename (from
    `hidden_numbers`), or "a private incident"."""
    if not hidden or not text:
        return text
    names = hidden if isinstance(hidden, Mapping) else dict.fromkeys(hidden, HIDDEN)
    return REFERENCE_RE.sub(lambda m: names.get(int(m.group(1)), m.group(0)), text)


def redactor(session: Session, user: User, texts: Iterable[str]) -> Callable[[str], str]:
    """A function that redacts, for `user`, the references these texts make (one query)."""
    hidden = hidden_numbers(session, user, numbers_in(texts))
    return lambda text: redact(text, hidden)
