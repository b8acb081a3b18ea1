"""The text forms of the schedule pages: members as a list of emails, restrictions as lines
like "mon-fri 09:00-17:00"."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.catalog.models import User
from tocsin.errors import ValidationFailed
from tocsin.schedules.rotation import DAYS

_LINE = re.compile(
    r"^\s*(?P<days>[a-z ,\-]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$",
    re.ASCII,  # \d: ASCII digits only
)


def members_from_text(session: Session, text: str) -> list[int]:
    """'ann@example.com, bob@example.com, ann@example.com' -> user ids in that order."""
    ids = []
    for item in re.split(r"[,\n]", text):
        email = item.strip().lower()
        if not email:
            continue
        user_id = session.scalar(select(User.id).where(func.lower(User.email) == email))
        if user_id is None:
            raise ValidationFailed(f"members: no user with email {email!r}", field="member_ids")
        ids.append(user_id)
    return ids


def members_text(emails: list[str]) -> str:
    return ", ".join(emails)


def _days(spec: str) -> list[str]:
    spec = spec.strip()
    if spec in ("daily", "every day", "all"):
        return list(DAYS)
    if spec in ("weekdays",):
        return list(DAYS[:5])
    if spec in ("weekends",):
        return list(DAYS[5:])
    out: list[str] = []
    for part in spec.replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first[:3] not in DAYS or (last and last[:3] not in DAYS):
            raise ValidationFailed(
                f"restrictions: {part!r} is not a weekday or a range like mon-fri",
                field="restrictions",
            )
        a = DAYS.index(first[:3])
        b = DAYS.index(last[:3]) if last else a
        index = a
        while True:
            out.append(DAYS[index])
            if index == b:
                break
            index = (index + 1) % 7
    return out


def restrictions_from_text(text: str) -> list[dict[str, Any]]:
    """One window per line or ';': 'mon-fri 09:00-17:00', 'sat,sun 00:00-24:00',
    'weekdays 17:00-09:00' (an end at or before the start is the next day)."""
    out = []
    for line in re.split(r"[;\n]", text.lower()):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValidationFailed(
                f"restrictions: cannot read {line.strip()!r}; write e.g. mon-fri 09:00-17:00",
                field="restrictions",
            )
        out.append(
            {"days": _days(match["days"]), "start": match["start"].zfill(5),
             "end": match["end"].zfill(5)}
        )  # fmt: skip
    return out


def restrictions_text(windows: list[dict[str, Any]]) -> str:
    lines = []
    for window in windows:
        days = window["days"]
        indexes = [DAYS.index(d) for d in days]
        if len(days) > 2 and indexes == list(range(indexes[0], indexes[0] + len(days))):
            label = f"{days[0]}-{days[-1]}"
        else:
            label = ",".join(days)
        lines.append(f"{label} {window['start']}-{window['end']}")
    return "\n".join(lines)
