"""The summaries Insights shows for a set of durations: count, median, 90th percentile, mean.

The median of an even count is the mean of the two middle values. The 90th percentile is
the nearest rank: the smallest value with at least 90% of the values at or below it (so it
is always a real incident's figure, and a drill-down can name that incident).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Seconds; None when there is no value."""

    count: int
    median: float | None
    p90: float | None
    mean: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"count": self.count, "median": self.median, "p90": self.p90, "mean": self.mean}


EMPTY = Summary(0, None, None, None)


def median(values: list[float]) -> float | None:
    """`values` sorted ascending."""
    n = len(values)
    if not n:
        return None
    middle = n // 2
    return values[middle] if n % 2 else (values[middle - 1] + values[middle]) / 2


def percentile(values: list[float], share: float) -> float | None:
    """Nearest rank of sorted `values`: the ceil(share × n)-th smallest."""
    if not values:
        return None
    rank = max(1, math.ceil(round(share * len(values), 9)))
    return values[rank - 1]


def summarize(values: Iterable[float]) -> Summary:
    ordered = sorted(values)
    if not ordered:
        return EMPTY
    return Summary(
        len(ordered),
        median(ordered),
        percentile(ordered, 0.9),
        sum(ordered) / len(ordered),
    )


def change(current: float | None, previous: float | None) -> float | None:
    """The relative change from `previous` to `current` (0.25 is +25%); None without both or
    from zero."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous


def duration_text(seconds: float | None) -> str:
    """A duration for people: "45 s", "12 min", "3 h 05 min", "2 d 4 h"; "—" for none."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
