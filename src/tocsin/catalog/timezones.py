"""A person's time zone at a past moment, from the record of its changes
(`UserTimezoneChange`, written by `catalog.service.change_timezone`).

At a moment `m` a person had the old zone of their earliest change after `m`; with no change
after `m`, their current zone. So moving from London to Tokyo re-reads nothing that happened
in London: a night page there stays a night page.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import UserTimezoneChange


@dataclass(frozen=True)
class ZoneHistory:
    """One person's zones over time: `changes` are (changed_at, old zone), oldest first."""

    current: str
    changes: tuple[tuple[datetime, str], ...] = ()

    def name_at(self, moment: datetime) -> str:
        """The IANA name of the zone the person had at `moment` (aware)."""
        if not self.changes:
            return self.current
        # The first change strictly after `moment`: a moment at the very instant of a change
        # already reads in the new zone.
        index = bisect_right(self.changes, moment, key=lambda change: change[0])
        return self.changes[index][1] if index < len(self.changes) else self.current

    def zone_at(self, moment: datetime) -> ZoneInfo:
        return ZoneInfo(self.name_at(moment))  # zoneinfo keeps one instance per name


def histories(
    session: Session, current: dict[int, str], since: datetime | None = None
) -> dict[int, ZoneHistory]:
    """The zone history of each user in `current` ({user id: their zone now}). Changes
    before `since` are left out: they say nothing about a moment after it."""
    wanted: Collection[int] = current.keys()
    found: dict[int, list[tuple[datetime, str]]] = {user_id: [] for user_id in wanted}
    if wanted:
        query = select(
            UserTimezoneChange.user_id,
            UserTimezoneChange.changed_at,
            UserTimezoneChange.old_timezone,
        ).order_by(UserTimezoneChange.user_id, UserTimezoneChange.changed_at, UserTimezoneChange.id)
        if since is not None:
            query = query.where(UserTimezoneChange.changed_at > since)
        for user_id, changed_at, old in session.execute(query):
            if user_id in found:
                found[user_id].append((changed_at, old))
    return {user_id: ZoneHistory(current[user_id], tuple(found[user_id])) for user_id in wanted}
