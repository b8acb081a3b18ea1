"""The geometry of the timeline on a schedule's page: bars of an inline SVG (the page's
content security policy forbids inline styles, so positions are SVG attributes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tocsin.catalog.models import User
from tocsin.schedules.oncall import Shift

LABEL_WIDTH = 170
WIDTH = 1200
ROW = 30
HEAD = 26
PALETTE = 10


@dataclass
class Bar:
    x: float
    width: float
    css: str
    label: str
    title: str


@dataclass
class Row:
    label: str
    y: int
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Tick:
    x: float
    label: str
    major: bool


@dataclass
class Timeline:
    start: datetime
    end: datetime
    rows: list[Row]
    ticks: list[Tick]
    height: int
    now_x: float | None
    width: int = WIDTH
    left: int = LABEL_WIDTH

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


class Scale:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.span = start, (end - start).total_seconds()

    def x(self, when: datetime) -> float:
        fraction = (when - self.start).total_seconds() / self.span
        return round(LABEL_WIDTH + max(0.0, min(1.0, fraction)) * (WIDTH - LABEL_WIDTH), 2)


def _fmt(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%a %d %b %H:%M")


def shift_bars(
    shifts: list[Shift], scale: Scale, users: dict[int, User], tz: ZoneInfo, *, with_source: bool
) -> list[Bar]:
    bars = []
    for shift in shifts:
        x0, x1 = scale.x(shift.start), scale.x(shift.end)
        user = users.get(shift.user_id)
        name = user.name if user else f"user {shift.user_id}"
        title = f"{name}: {_fmt(shift.start, tz)} – {_fmt(shift.end, tz)}"
        if with_source:
            title += f" ({shift.source})"
        css = "tl-override" if shift.override_id else f"tl-u{shift.user_id % PALETTE}"
        bars.append(Bar(x0, max(x1 - x0, 0.5), css, name if x1 - x0 > 45 else "", title))
    return bars


def gap_bars(gaps: list[tuple[datetime, datetime]], scale: Scale, tz: ZoneInfo) -> list[Bar]:
    return [
        Bar(scale.x(a), max(scale.x(b) - scale.x(a), 0.5), "tl-gap",
            "nobody" if scale.x(b) - scale.x(a) > 45 else "",
            f"Nobody on call: {_fmt(a, tz)} – {_fmt(b, tz)}")
        for a, b in gaps
    ]  # fmt: skip


def ticks(start: datetime, end: datetime, tz: ZoneInfo, scale: Scale) -> list[Tick]:
    """A line at each local midnight (labelled) and at noon on short windows."""
    out = []
    days = (end - start).days
    local = start.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    while True:
        instant = local.replace(tzinfo=tz)
        if instant >= end:
            break
        if instant >= start:
            label = instant.strftime("%a %d") if days <= 31 else instant.strftime("%d")
            out.append(Tick(scale.x(instant), label, True))
        if days <= 7:
            noon = local.replace(hour=12).replace(tzinfo=tz)
            if start <= noon < end:
                out.append(Tick(scale.x(noon), "12:00", False))
        local += timedelta(days=1)
    return out
