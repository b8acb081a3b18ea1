"""Who may see an incident: the one policy every surface asks.

An incident that is not restricted is visible to everyone signed in. A restricted one (a
security incident, say) is visible only to admins and to the people involved in it: whoever
declared it, the holders of its roles, and the people other domains record as involved (the
people paged for it, its stakeholders). To everyone else it does not exist: lists and search
leave it out, and looking it up answers 404, as for a reference that was never used.

Those other domains import incidents, never the other way round, so this module does not know
their tables: the composition root (`app.create_app`) registers a condition for each of them
with `involve`. A process that builds no app (`tocsin worker`) knows only the kinds recorded
here, and none of its jobs asks. Left unregistered, fewer people count as involved, never more.

- `visible_filter(user)`: a SQL condition on `Incident`, for list and search queries, so that
  they stay one query and their counts and pages are right.
- `can_see(session, user, incident)`: the same answer for one incident.
- `hidden_numbers` and `redact`: for text that names incidents (INC-42), such as what became
  of an alert's events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from sqlalchemy import Case, ColumnElement, case, false, or_, select, true
from sqlalchemy.orm import Session

from tocsin.catalog.models import User, UserRole
from tocsin.incidents.models import Incident, RoleAssignment

# A kind of involvement recorded outside this package: for a user, a condition on `Incident`
# rows that holds where they are involved that way, or None where it never applies to them.
Involvement = Callable[[User], ColumnElement[bool] | None]

# What a hidden incident's reference becomes in text shown to someone who may not see it.
HIDDEN = "a restricted incident"
REFERENCE_RE = re.compile(r"\bINC-(\d{1,12})\b")

_involvements: dict[str, Involvement] = {}


def involve(name: str, involvement: Involvement) -> None:
    """Count another kind of involvement (called by the composition root). Registering a
    name again replaces the condition it had."""
    _involvements[name] = involvement


def sees_everything(user: User) -> bool:
    """Admins see every incident."""
    return user.can(UserRole.admin)


def involved(user: User) -> ColumnElement[bool]:
    """A condition on `Incident`: `user` declared it, holds one of its roles, or is involved
    in a way another domain registered. A deactivated account is involved in nothing."""
    if not user.active:
        return false()
    roles = select(RoleAssignment.incident_id).where(RoleAssignment.user_id == user.id)
    conditions: list[ColumnElement[bool]] = [
        Incident.created_by_id == user.id,
        Incident.id.in_(roles),
    ]
    for involvement in _involvements.values():
        condition = involvement(user)
        if condition is not None:
            conditions.append(condition)
    return or_(*conditions)


def visible_filter(user: User) -> ColumnElement[bool]:
    """A condition on `Incident`: the incidents `user` may see."""
    if sees_everything(user):
        return true()
    return or_(Incident.restricted.is_(False), involved(user))


def can_see(session: Session, user: User, incident: Incident) -> bool:
    """Whether `user` may see `incident` (one query, and only for a restricted one)."""
    return not incident.restricted or sees_when_restricted(session, user, incident)


def sees_when_restricted(session: Session, user: User, incident: Incident) -> bool:
    """Whether `user` may see `incident` were it restricted, whether it is or not: an admin
    or one of the people involved."""
    if sees_everything(user):
        return True
    found = session.scalar(select(Incident.id).where(Incident.id == incident.id, involved(user)))
    return found is not None


def hidden_numbers(session: Session, user: User, numbers: Iterable[int]) -> set[int]:
    """Of these incident numbers (INC-42 is 42), the ones `user` may not see, in one query.
    Numbers of no incident are not in it."""
    wanted = set(numbers)
    if not wanted or sees_everything(user):
        return set()
    # CASE rather than NOT: an unknown (NULL) answer from the condition counts as hidden.
    shown: Case[bool] = case((visible_filter(user), True), else_=False)
    rows = session.execute(select(Incident.number, shown).where(Incident.number.in_(wanted)))
    return {number for number, visible in rows if not visible}


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


def redact(text: str, hidden: set[int]) -> str:
    """`text` with each reference to a hidden incident replaced by "a restricted incident"."""
    if not hidden or not text:
        return text
    return REFERENCE_RE.sub(lambda m: HIDDEN if int(m.group(1)) in hidden else m.group(0), text)


def redactor(session: Session, user: User, texts: Iterable[str]) -> Callable[[str], str]:
    """A function that redacts, for `user`, the references these texts make (one query)."""
    hidden = hidden_numbers(session, user, numbers_in(texts))
    return lambda text: redact(text, hidden)
