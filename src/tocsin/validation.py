"""Small input checks shared by every domain's service functions."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.errors import ValidationFailed

# What str.strip() and str.isspace() take for whitespace, spelled out so that a pattern means
# the same in Python, in pydantic's regex engine and in an OpenAPI document (JavaScript's
# `\s` is another set).
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
EMAIL_RE = re.compile(rf"^[^@{WHITESPACE}]+@[^@{WHITESPACE}]+\.[^@{WHITESPACE}]+$")


def text(
    value: object, field: str, *, max_len: int, required: bool = False, strip: bool = True
) -> str:
    """A string of at most max_len characters; required ones may not be blank."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be text", field=field)
    if strip:
        value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{field} is required", field=field)
    if len(value) > max_len:
        raise ValidationFailed(
            f"{field} is too long ({len(value)} characters; at most {max_len})", field=field
        )
    if "\x00" in value:
        raise ValidationFailed(f"{field} contains a NUL character", field=field)
    return value


def email(value: object, field: str = "email") -> str:
    address = text(value, field, max_len=254, required=True).lower()
    if not EMAIL_RE.match(address):
        raise ValidationFailed(f"{field} is not a valid email address: {address!r}", field=field)
    return address


def timezone(value: object, field: str = "timezone") -> str:
    name = text(value, field, max_len=64, required=True)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"{field}: unknown time zone {name!r}", field=field) from exc
    return name


def url(value: object, field: str) -> str:
    link = text(value, field, max_len=2048, required=True)
    try:
        parsed = urlparse(link)
        parsed.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:  # an unclosed "[" of an IPv6 host, a port like ":99999"
        raise ValidationFailed(f"{field} is not a valid URL: {exc}", field=field) from exc
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationFailed(f"{field} must be an http(s) URL: {link!r}", field=field)
    return link


def aware(value: object, field: str) -> datetime | None:
    """Datetimes must carry a time zone; naive ones are ambiguous."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationFailed(f"{field} must be a date and time", field=field)
    if value.tzinfo is None:
        raise ValidationFailed(f"{field} must include a time zone offset", field=field)
    return value


def past(value: object, field: str, now: datetime) -> datetime | None:
    """An aware datetime no later than `now` (recording what already happened), or None."""
    when = aware(value, field)
    if when is not None and when > now:
        raise ValidationFailed(f"{field} cannot be in the future", field=field)
    return when


def one_of(value: object, field: str, allowed: list[str] | tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValidationFailed(
            f"{field} must be one of {', '.join(allowed)} (got {value!r})", field=field
        )
    return value


def integer(value: object, field: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{field} must be a whole number", field=field)
    if not minimum <= value <= maximum:
        raise ValidationFailed(f"{field} must be between {minimum} and {maximum}", field=field)
    return value


def digits(text: str, *, max_digits: int = 18) -> int | None:
    """The number `text` spells in ASCII digits (no sign, no spaces), or None.

    For numbers taken from URLs, query strings, forms, cookies and tokens. `str.isdigit()` is
    not enough: it also takes "²", which int() refuses, and "٣", which int() reads as 3. The
    length cap keeps int() cheap and the value inside a BIGINT column (18 digits always fit).
    """
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None
