"""Both parts of the on-call tab, the on-call load (insights.load) and the rotations
(insights.shifts), from one reading of the period's pages (insights.pages)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.insights import load, shifts
from tocsin.insights.filters import Filters
from tocsin.insights.pages import read


def tab(
    session: Session, f: Filters, viewer: User, *, working_days: str, working_hours: str
) -> tuple[load.Load, shifts.Rotations]:
    """The on-call load and the rotations of `f` as `viewer` may read them: the same figures
    as `load.compute` and `shifts.rotations`, the period's pages read once for both."""
    placed = shifts.placement(session, f)
    members = load.members_of(session, f)
    # A team's: its members' pages (the load) and those of whoever was on call in its
    # schedules (the rotations); else everyone's.
    people = None if members is None else members | set(placed.people)
    paged = read(session, f, people)
    return (
        load.compute(
            session,
            f,
            viewer,
            working_days=working_days,
            working_hours=working_hours,
            paged=paged,
        ),
        shifts.rotations(
            session,
            f,
            viewer,
            hours=load.Hours.parse(working_days, working_hours),
            placed=placed,
            paged=paged,
        ),
    )
