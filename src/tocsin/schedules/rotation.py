"""Pure rotation arithmetic: a layer's shifts and restriction windows, with no database.

The rule for local time (see docs/schedules.md): every boundary (a handoff, a restriction
window's start or end) is a local wall-clock time in the layer's zone, turned into an instant
with zoneinfo and `fold=0`. So a daily 09:00 handoff stays at 09:00 local across a
daylight-saving change, and a 12-hour 08:00/20:00 rotation keeps those handoffs, making the
shift that spans the change an hour shorter (spring) or longer (autumn). A boundary that falls
in a spring-forward gap is moved forward by the length of the gap (01:30 becomes 02:30 in
London); one in an autumn repeat takes the first occurrence (the summer-time one).

Finding the shift at an instant is O(1): the shift number comes from the wall-clock distance
to the layer's first handoff, corrected by at most a step or two around a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIN_SHIFT_SECONDS = 3600
MAX_SHIFT_SECONDS = 366 * 86400
ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def localize(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall-clock time (fold=0: see the module docstring)."""
    return wall.replace(tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=4096)
def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock time of an aware instant (cached: a thousand layers asked
    about the same instant share a handful of zones)."""
    return instant.astimezone(tz).replace(tzinfo=None)


def parse_hhmm(value: str) -> time:
    """'09:00' -> 09:00; '24:00' means the end of the day and is read as 00:00 (next day)."""
    hours, _, minutes = value.partition(":")
    h, m = int(hours), int(minutes or 0)
    if h == 24 and m == 0:
        return time(0, 0)
    return time(h, m)


@dataclass(frozen=True, slots=True)
class Window:
    """On each of `days` (0 = Monday), from `start` to `end` local time; an end at or before
    the start ends on the next day (so 00:00-00:00 is the whole day)."""

    days: frozenset[int]
    start: time
    end: time

    def on(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.days:
            return None
        begin = localize(datetime.combine(day, self.start), tz)
        end_day = day + ONE_DAY if self.end <= self.start else day
        return begin, localize(datetime.combine(end_day, self.end), tz)


def windows_from(restrictions: list[dict[str, Any]]) -> tuple[Window, ...]:
    """Stored restrictions (validated by the service) as Windows."""
    return tuple(
        Window(
            frozenset(DAYS.index(d) for d in r["days"]),
            parse_hhmm(r["start"]),
            parse_hhmm(r["end"]),
        )
        for r in restrictions
    )


@dataclass(frozen=True, slots=True, eq=False)
class Rotation:
    """What the arithmetic needs to know about one rotation layer.

    Instances are immutable and shared (oncall.py keeps one per layer version), so they
    remember the instants they have already worked out: handoffs and restriction windows."""

    tz: ZoneInfo
    anchor: datetime  # naive local wall time of the first handoff
    step: timedelta  # shift length in wall-clock time
    start: datetime  # the first handoff as an instant
    end: datetime | None
    members: tuple[int, ...]
    windows: tuple[Window, ...]
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        *,
        timezone: str,
        start_date: date,
        handoff_time: time,
        shift_seconds: int,
        end: datetime | None,
        members: list[int] | tuple[int, ...],
        restrictions: list[dict[str, Any]],
    ) -> Rotation:
        tz = zone(timezone)
        anchor = datetime.combine(start_date, handoff_time)
        return cls(
            tz=tz,
            anchor=anchor,
            step=timedelta(seconds=shift_seconds),
            start=localize(anchor, tz),
            end=end,
            members=tuple(members),
            windows=windows_from(restrictions),
        )

    def boundary(self, k: int) -> datetime:
        """The instant shift k begins (shift 0 begins at `start`)."""
        found = self._memo.get(k)
        if found is None:
            if len(self._memo) > 4096:
                self._memo.clear()
            found = self._memo[k] = localize(self.anchor + k * self.step, self.tz)
        return found

    def _spans_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The restriction windows that start on local date `day`."""
        found = self._memo.get(day)
        if found is None:
            if len(self._memo) > 4096:
                self._memo.clear()
            found = self._memo[day] = [
                span for window in self.windows if (span := window.on(day, self.tz)) is not None
            ]
        return found

    def index_at(self, instant: datetime) -> int:
        """The number of the shift holding `instant`: O(1) whatever the layer's age."""
        k = (wall(instant, self.tz) - self.anchor) // self.step
        # Wall-clock distance is off by the DST difference near a change: step to the shift.
        while self.boundary(k) > instant:
            k -= 1
        while self.boundary(k + 1) <= instant:
            k += 1
        return k

    def shift_at(self, instant: datetime) -> tuple[int, datetime, datetime] | None:
        """(user id, start, end) of the rotation shift at `instant`, ignoring restrictions."""
        if not self.members or instant < self.start:
            return None
        if self.end is not None and instant >= self.end:
            return None
        k = self.index_at(instant)
        begin, finish = self.boundary(k), self.boundary(k + 1)
        if self.end is not None and finish > self.end:
            finish = self.end
        return self.members[k % len(self.members)], begin, finish

    def shifts(self, lo: datetime, hi: datetime) -> Iterator[tuple[int, datetime, datetime]]:
        """(user id, start, end) of every shift overlapping [lo, hi), clipped to it."""
        if not self.members:
            return
        lo = max(lo, self.start)
        if self.end is not None:
            hi = min(hi, self.end)
        if lo >= hi:
            return
        k = self.index_at(lo)
        begin = self.boundary(k)
        previous_end = lo
        while begin < hi:
            finish = self.boundary(k + 1)
            s, e = max(begin, previous_end), min(finish, hi)
            if e > s:
                yield self.members[k % len(self.members)], s, e
                previous_end = e
            k += 1
            begin = finish

    # Restrictions ---------------------------------------------------------------------------

    def window_at(self, instant: datetime) -> tuple[datetime, datetime] | None:
        """The restriction window holding `instant` (merged with windows that touch it), or
        None if the layer is restricted and `instant` is outside every window."""
        today = wall(instant, self.tz).date()
        found = None
        for day in (today - ONE_DAY, today):
            for span in self._spans_on(day):
                if span[0] <= instant < span[1]:
                    found = (
                        span if found is None else (min(found[0], span[0]), max(found[1], span[1]))
                    )
        if found is None:
            return None
        begin, finish = found
        for _ in range(8):  # e.g. Saturday and Sunday whole days make one weekend window
            later = self._touching(finish, forward=True)
            if later is None:
                break
            finish = later
        for _ in range(8):
            earlier = self._touching(begin, forward=False)
            if earlier is None:
                break
            begin = earlier
        return begin, finish

    def _touching(self, edge: datetime, *, forward: bool) -> datetime | None:
        day = wall(edge, self.tz).date()
        best = None
        for d in (day - ONE_DAY, day):
            for span in self._spans_on(d):
                if forward and span[0] <= edge < span[1]:
                    best = span[1] if best is None else max(best, span[1])
                if not forward and span[0] < edge <= span[1]:
                    best = span[0] if best is None else min(best, span[0])
        return best

    def windows_between(self, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
        """The restriction windows overlapping [lo, hi), merged and clipped to it."""
        first = wall(lo, self.tz).date() - ONE_DAY
        last = wall(hi, self.tz).date()
        spans = []
        day = first
        while day <= last:
            for span in self._spans_on(day):
                if span[1] > lo and span[0] < hi and span[1] > span[0]:
                    spans.append((max(span[0], lo), min(span[1], hi)))
            day += ONE_DAY
        spans.sort()
        merged: list[tuple[datetime, datetime]] = []
        for begin, finish in spans:
            if merged and begin <= merged[-1][1]:
                if finish > merged[-1][1]:
                    merged[-1] = (merged[-1][0], finish)
            else:
                merged.append((begin, finish))
        return merged

    def covered(self, lo: datetime, hi: datetime) -> list[tuple[int, datetime, datetime]]:
        """The layer's shifts in [lo, hi), cut to its restriction windows."""
        shifts = list(self.shifts(lo, hi))
        if not self.windows or not shifts:
            return shifts
        return intersect(shifts, self.windows_between(lo, hi))

    def covering(self, instant: datetime) -> tuple[int, datetime, datetime] | None:
        """The (user, start, end) of this layer at `instant`, restrictions applied."""
        shift = self.shift_at(instant)
        if shift is None or not self.windows:
            return shift
        span = self.window_at(instant)
        if span is None:
            return None
        user, begin, finish = shift
        return user, max(begin, span[0]), min(finish, span[1])


def intersect(
    shifts: list[tuple[int, datetime, datetime]], spans: list[tuple[datetime, datetime]]
) -> list[tuple[int, datetime, datetime]]:
    """Shifts (sorted, disjoint) cut to spans (sorted, disjoint)."""
    out = []
    j = 0
    for user, begin, finish in shifts:
        while j < len(spans) and spans[j][1] <= begin:
            j += 1
        k = j
        while k < len(spans) and spans[k][0] < finish:
            s, e = max(begin, spans[k][0]), min(finish, spans[k][1])
            if e > s:
                out.append((user, s, e))
            k += 1
    return out
