"""The Jinja2 environment for server-rendered pages. Autoescaping is always on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from tocsin import __version__
from tocsin.db import utcnow
from tocsin.web.forms import FLASH_COOKIE
from tocsin.web.markdown import render_markdown

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def _local(value: datetime | None, tz: str = "UTC") -> datetime | None:
    if value is None:
        return None
    try:
        zone = ZoneInfo(tz)
    except Exception:
        zone = ZoneInfo("UTC")
    return value.astimezone(zone)


def fmt_dt(value: datetime | None, tz: str = "UTC") -> str:
    local = _local(value, tz)
    return local.strftime("%Y-%m-%d %H:%M %Z") if local else "—"


def fmt_input_dt(value: datetime | None, tz: str = "UTC") -> str:
    """The value for an <input type="datetime-local"> in the user's time zone."""
    local = _local(value, tz)
    return local.strftime("%Y-%m-%dT%H:%M") if local else ""


def fmt_age(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "—"
    seconds = int(((now or utcnow()) - value).total_seconds())
    if seconds < 0:
        seconds = 0
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    return f"{hours // 24}d {hours % 24}h"


def iso(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.autoescape = True
    env.filters["dt"] = fmt_dt
    env.filters["input_dt"] = fmt_input_dt
    env.filters["age"] = fmt_age
    env.filters["iso"] = iso
    env.globals["version"] = __version__
    env.globals["today"] = lambda: utcnow().date()
    env.filters["markdown"] = render_markdown
    return templates


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Any:
    """Render a page with the current user and CSRF token available to every template."""
    templates: Jinja2Templates = request.app.state.templates
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))
    kind, _, message = flash.partition(":")
    ctx = {
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "flash": {"kind": kind, "message": message} if message else None,
        "request_path": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response
