"""Helpers for HTML form handlers: parsing posted values, flash messages, redirects."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from tocsin.errors import ValidationFailed
from tocsin.validation import digits

FLASH_COOKIE = "tocsin_flash"


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


def redirect(
    url: str, *, notice: str | None = None, error: str | None = None, warning: str | None = None
) -> RedirectResponse:
    """303 after a POST, carrying a one-time message for the next page (an error first, then
    a warning, then a notice)."""
    response = RedirectResponse(url, status_code=303)
    if notice or error or warning:
        kind, text = (
            ("error", error) if error else ("warning", warning) if warning else ("notice", notice)
        )
        response.set_cookie(
            FLASH_COOKIE,
            quote(f"{kind}:{text}"[:600]),
            max_age=60,
            httponly=True,
            samesite="lax",
            path="/",
        )
    return response


def safe_back(value: str, default: str) -> str:
    """Where a form returns to: a path on this site, never another site (`//host`)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def optional_int(form: FormData, name: str) -> int | None:
    raw = text(form, name).strip()
    if not raw:
        return None
    number = digits(raw.removeprefix("-"))
    if number is None:
        raise ValidationFailed(f"{name} must be a number", field=name)
    return -number if raw.startswith("-") else number


def int_list(form: FormData, name: str) -> list[int]:
    values = []
    for raw in form.getlist(name):
        if isinstance(raw, str) and raw.strip():
            number = digits(raw.strip())
            if number is None:
                raise ValidationFailed(f"{name} must be ids", field=name)
            values.append(number)
    return values


def checkbox(form: FormData, name: str) -> bool:
    return text(form, name) in ("on", "true", "1", "yes")


def local_datetime(form: FormData, name: str, tz: str) -> datetime | None:
    """A datetime-local input, read in the user's time zone."""
    raw = text(form, name).strip()
    if not raw:
        return None
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed(
            f"{name.replace('_', ' ')} is not a date and time", field=name
        ) from exc
    if naive.tzinfo is not None:
        return naive
    try:
        zone = ZoneInfo(tz)
    except Exception:
        zone = ZoneInfo("UTC")
    return naive.replace(tzinfo=zone)


def local_day(value: str, tz: str, *, end: bool = False) -> datetime | None:
    """A date picked in the viewer's time zone (a list filter's since/until), as the start
    (or, with `end`, the end) of that day; None when empty."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            day = datetime.fromisoformat(value).date()  # a date and time: its day
        except ValueError as exc:
            raise ValidationFailed(f"{value!r} is not a date") from exc
    return datetime.combine(day, time.max if end else time.min, tzinfo=ZoneInfo(tz))


def optional_date(form: FormData, name: str) -> date | None:
    raw = text(form, name).strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed(f"{name.replace('_', ' ')} must be a date", field=name) from exc


def values(form: FormData) -> dict[str, Any]:
    """The posted form as a dict (lists for repeated names), to re-fill a form after an error."""
    out: dict[str, Any] = {}
    for key in form:
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = items if len(items) > 1 else (items[0] if items else "")
    return out
