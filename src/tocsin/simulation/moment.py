"""The moment a dry run imagines: "2026-12-25T03:00 Europe/London", an ISO time with an
offset, or now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tocsin import validation as v
from tocsin.db import utcnow
from tocsin.errors import ValidationFailed

# A dry run looks at plausible times: schedules and windows are computed for the moment
# asked, and arithmetic near the ends of the calendar overflows.
REACH = timedelta(days=5 * 366)
EXAMPLE = "2026-12-25T03:00 Europe/London"


def parse_moment(
    text: str | None, zone: str | None = None, *, now: datetime | None = None
) -> tuple[datetime, str]:
    """(the moment in UTC, the time zone to show times in).

    `text` is an ISO 8601 date and time, followed by an IANA zone after a space, or carrying
    its own offset; without either it is read in `zone` (UTC if none). Empty or "now" is now.
    A wall-clock time the zone skips (clocks going forward) is refused."""
    now = now or utcnow()
    shown = v.timezone(zone, "timezone") if zone else "UTC"
    text = (text or "").strip()
    if text.lower() in ("", "now"):
        return now, shown
    stamp, zone_text = text, None
    head, _, tail = text.rpartition(" ")
    if head and not tail[:1].isdigit() and tail[:1] not in "+-":
        stamp, zone_text = head.strip(), tail
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError as exc:
        raise ValidationFailed(
            f"at: not a date and time: {text!r} (e.g. {EXAMPLE!r}, or now)", field="at"
        ) from exc
    named = v.timezone(zone_text, "at") if zone_text is not None else None
    if parsed.tzinfo is not None and named is not None:
        raise ValidationFailed(f"at: give an offset or a time zone, not both: {text!r}", field="at")
    if parsed.tzinfo is None:
        name = named or shown
        local = parsed.replace(tzinfo=ZoneInfo(name))
        try:
            back = local.astimezone(UTC).astimezone(ZoneInfo(name)).replace(tzinfo=None)
        except OverflowError as exc:
            raise ValidationFailed(f"at: {text!r} is out of range", field="at") from exc
        if back != parsed:
            raise ValidationFailed(
                f"at: {parsed:%Y-%m-%d %H:%M} does not exist in {name} (the clocks go forward "
                "then)",
                field="at",
            )
        parsed, shown = local, named or shown
    try:
        moment = parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationFailed(f"at: {text!r} is out of range", field="at") from exc
    if abs(moment - now) > REACH:
        raise ValidationFailed("at: a dry run looks at most five years either way", field="at")
    return moment, shown
