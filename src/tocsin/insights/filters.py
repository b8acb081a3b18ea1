"""What an Insights page is asked about: a period, and optionally a team, service, severity
or incident type. Parsed once from the query string, for pages, CSV and JSON alike.

A period is a calendar week (Monday first), month or quarter in the organisation's time zone
(`Settings.org_timezone`), chosen by any day in it (`date`, default today), or a range of
days (`from`, `to`, both included). The current period ends now. Its trend compares with the
period before, cut at the same point (this quarter to date against the last quarter to the
same day), so that counts compare like with like; a range compares with the same number of
days before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Service, Team
from tocsin.definitions.models import IncidentType, Severity
from tocsin.errors import ValidationFailed

PERIODS = ("week", "month", "quarter")
DEFAULT_PERIOD = "quarter"
# A range longer than this is refused: two years of weekly buckets is already a lot to read.
MAX_RANGE_DAYS = 731


@dataclass(frozen=True)
class Filters:
    period: str  # week | month | quarter | range
    start: datetime  # aware UTC, included
    end: datetime  # aware UTC, excluded
    timezone: str
    first_day: date  # the period's first and last day, local
    last_day: date
    team: Team | None = None
    service: Service | None = None
    severity: Severity | None = None
    incident_type: IncidentType | None = None
    # The start and end of the period the trend compares with.
    previous_start: datetime | None = None
    previous_end: datetime | None = None
    current: bool = False  # the period has not ended: its figures run to now

    @property
    def label(self) -> str:
        if self.period == "week":
            return f"week of {self.first_day.isoformat()}"
        if self.period == "month":
            return self.first_day.strftime("%B %Y")
        if self.period == "quarter":
            return f"Q{(self.first_day.month - 1) // 3 + 1} {self.first_day.year}"
        return f"{self.first_day.isoformat()} to {self.last_day.isoformat()}"

    @property
    def scope(self) -> str:
        """What the figures are about, in words: "all teams", "team Payments, SEV1"."""
        parts = [
            f"team {self.team.name}" if self.team else "",
            f"service {self.service.name}" if self.service else "",
            self.severity.name if self.severity else "",
            f"type {self.incident_type.name}" if self.incident_type else "",
        ]
        return ", ".join(p for p in parts if p) or "all teams"

    def previous(self) -> Filters:
        """The same filters over the period the trend compares with."""
        assert self.previous_start is not None and self.previous_end is not None
        return replace(
            self,
            start=self.previous_start,
            end=self.previous_end,
            previous_start=None,
            previous_end=None,
            current=False,
        )

    def params(self, **changes: object) -> dict[str, str]:
        """The query string's parameters that give these filters, with `changes` (None
        removes one)."""
        values: dict[str, object] = {}
        if self.period == "range":
            values["from"] = self.first_day.isoformat()
            values["to"] = self.last_day.isoformat()
        else:
            values["period"] = self.period
            values["date"] = self.first_day.isoformat()
        values.update(
            team=self.team.id if self.team else None,
            service=self.service.id if self.service else None,
            severity=self.severity.id if self.severity else None,
            type=self.incident_type.id if self.incident_type else None,
        )
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v is not None and v != ""}

    def query(self, **changes: object) -> str:
        return urlencode(self.params(**changes))

    def shifted(self, steps: int) -> str | None:
        """The query string of the period `steps` before (-) or after (+) this one; None for
        a range or a period that starts after today."""
        if self.period == "range":
            return None
        day = self.first_day
        for _ in range(abs(steps)):
            day = _step(self.period, day, forward=steps > 0)
        return self.query(date=day.isoformat())

    def as_dict(self) -> dict[str, object]:
        return {
            "period": self.period,
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.timezone,
            "team": self.team.id if self.team else None,
            "service": self.service.id if self.service else None,
            "severity": self.severity.name if self.severity else None,
            "type": self.incident_type.name if self.incident_type else None,
            "previous_start": self.previous_start.isoformat() if self.previous_start else None,
            "previous_end": self.previous_end.isoformat() if self.previous_end else None,
        }


def _first_day(period: str, day: date) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _step(period: str, first: date, *, forward: bool) -> date:
    """The first day of the period after (or before) the one starting on `first`."""
    if period == "week":
        return first + timedelta(days=7 if forward else -7)
    months = 1 if period == "month" else 3
    index = first.year * 12 + first.month - 1 + (months if forward else -months)
    return date(index // 12, index % 12 + 1, 1)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first moment of `day` in `zone`, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


# Days Insights can be asked about: periods and their comparisons stay inside datetime's range.
FIRST_DAY, LAST_DAY = date(1971, 1, 1), date(9000, 12, 31)


def _day(value: str, field: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValidationFailed(
            f"{field} must be a date as YYYY-MM-DD (got {value.strip()[:40]!r})", field=field
        ) from exc
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationFailed(
            f"{field} must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}",
            field=field,
        )
    return day


class _Named(Protocol):
    id: Any
    name: Any


N = TypeVar("N", bound=_Named)


def _named(session: Session, model: type[N], value: str | None, field: str, what: str) -> N | None:
    """A team, service, severity or type by id or by name (case-insensitive); a clear error
    for one that does not exist."""
    text = (value or "").strip()
    if not text:
        return None
    found = None
    if text.isdigit() and len(text) <= 9:
        found = session.get(model, int(text))
    if found is None:
        matches = session.scalars(
            select(model).where(func.lower(model.name) == text.lower()).limit(2)
        ).all()
        if len(matches) > 1:
            raise ValidationFailed(
                f"more than one {what} is named {text!r}; use its id", field=field
            )
        found = matches[0] if matches else None
    if found is None:
        raise ValidationFailed(f"there is no {what} {text[:80]!r}", field=field)
    return found


def parse(session: Session, params: Mapping[str, str], *, now: datetime, timezone: str) -> Filters:
    """Filters from a query string's parameters; `ValidationFailed` naming the parameter for
    an unknown team, service, severity or type, a period in the wrong order, a bad date."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    start_text, end_text = params.get("from", ""), params.get("to", "")
    if start_text.strip() or end_text.strip():
        if not (start_text.strip() and end_text.strip()):
            raise ValidationFailed(
                "a range needs both from and to", field="to" if start_text else "from"
            )
        first, last = _day(start_text, "from"), _day(end_text, "to")
        if first > last:
            raise ValidationFailed(
                f"the period is in the wrong order: from {first.isoformat()} is after "
                f"to {last.isoformat()}",
                field="to",
            )
        if (last - first).days >= MAX_RANGE_DAYS:
            raise ValidationFailed(f"a range may span at most {MAX_RANGE_DAYS} days", field="to")
        period = "range"
        start, end = midnight(first, zone), midnight(last + timedelta(days=1), zone)
        if start > now:
            raise ValidationFailed(
                f"the range starts after today ({first.isoformat()})", field="from"
            )
        previous_start, previous_end = start - (end - start), start
        current = end > now
        end = min(end, now)
    else:
        period = (params.get("period") or DEFAULT_PERIOD).strip().lower()
        if period not in PERIODS:
            raise ValidationFailed(
                f"period must be one of {', '.join(PERIODS)} (got {period[:20]!r}); "
                "or give a range with from and to",
                field="period",
            )
        day = _day(params["date"], "date") if params.get("date", "").strip() else today
        first = _first_day(period, day)
        after = _step(period, first, forward=True)
        last = after - timedelta(days=1)
        start, end = midnight(first, zone), midnight(after, zone)
        if start > now:
            raise ValidationFailed(
                f"the {period} starting {first.isoformat()} has not begun yet", field="date"
            )
        current = end > now
        end = min(end, now)
        previous_start = midnight(_step(period, first, forward=False), zone)
        previous_end = min(previous_start + (end - start), start)
    return Filters(
        period=period,
        start=start,
        end=end,
        timezone=timezone,
        first_day=first,
        last_day=last,
        team=_named(session, Team, params.get("team"), "team", "team"),
        service=_named(session, Service, params.get("service"), "service", "service"),
        severity=_named(session, Severity, params.get("severity"), "severity", "severity"),
        incident_type=_named(session, IncidentType, params.get("type"), "type", "incident type"),
        previous_start=previous_start,
        previous_end=previous_end,
        current=current,
    )
