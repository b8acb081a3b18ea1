"""Rendering a page once per change into a complete set of files stored in the database.

The `statuspages.render` job (queued by `refresh.page_changed` in the transaction of every
change) builds every file the page serves: the HTML pages (with relative links, so the same
files work from any static host), the Statuspage-shaped JSON API, the RSS and Atom feeds, the
stylesheet and the logo. Web processes serve them from memory (`cache.py`); `tocsin
statuspage export` and the export hook (`export.py`) write them to a directory.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from feedgen.feed import FeedGenerator
from jinja2 import Environment
from markupsafe import Markup, escape
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.jobs.queue import enqueue
from tocsin.statuspages import history, look, statusjson
from tocsin.statuspages.models import RenderedFile, StatusPage, Visibility
from tocsin.statuspages.present import (
    STATUS_LABELS,
    IncidentView,
    PageView,
    load_page_view,
)
from tocsin.statuspages.refresh import RENDER_JOB
from tocsin.web.markdown import render_markdown
from tocsin.web.templating import make_templates

EXPORT_JOB = "statuspages.export"
RERENDER_JOB = "statuspages.rerender_all"
CSS_PATH = "assets/status.css"
STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "statuspage.css"
RECENT_DAYS = 14
FEED_ENTRIES = 50
HTML = "text/html; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class File:
    path: str
    content_type: str
    body: bytes

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


@lru_cache(maxsize=1)
def _env() -> Environment:
    return make_templates().env


def _when(zone: ZoneInfo) -> Any:
    def when(value: datetime | None) -> str:
        if value is None:
            return "—"
        return value.astimezone(zone).strftime("%d %b %Y, %H:%M %Z")

    return when


def _stylesheet(view: PageView) -> bytes:
    brand = look.hex_color(view.brand_color, "brand_color")
    accent = look.hex_color(view.accent_color, "accent_color")
    head = (
        f":root {{ --brand: {brand}; --brand-text: {look.text_on(brand)}; --accent: {accent}; }}\n"
    )
    return (head + STYLESHEET.read_text()).encode()


def _month_groups(view: PageView, zone: ZoneInfo) -> list[tuple[str, list[IncidentView]]]:
    months: dict[str, list[IncidentView]] = {}
    for incident in view.past:
        when = incident.scheduled_for if incident.is_maintenance else incident.started_at
        key = (when or incident.started_at).astimezone(zone).strftime("%B %Y")
        months.setdefault(key, []).append(incident)
    return list(months.items())


def _feed_content(incident: IncidentView, when: Any) -> str:
    parts = []
    for update in incident.updates:
        parts.append(
            Markup("<p><small>{}</small><br><strong>{}</strong> - </p>{}").format(
                when(update.display_at), update.label, render_markdown(update.body)
            )
        )
    return str(Markup("").join(parts)) or str(escape(incident.name))


def _feeds(view: PageView, when: Any) -> tuple[bytes, bytes]:
    """RSS 2.0 and Atom feeds of the page's incidents and maintenances (newest first)."""
    feed = FeedGenerator()
    feed.id(view.url)
    feed.title(f"{view.name} status")
    feed.description(f"Incidents and scheduled maintenance on {view.name}")
    feed.link(href=f"{view.url}/", rel="alternate")
    feed.language("en")
    entries = view.incidents[:FEED_ENTRIES]
    latest = max(
        [u.display_at for i in entries for u in i.updates] + [view.updated_at], default=None
    )
    feed.updated(latest or view.generated_at)
    for incident in reversed(entries):  # feedgen prepends: add the oldest first
        link = f"{view.url}/incidents/{incident.id}"
        entry = feed.add_entry()
        entry.id(link)
        entry.title(incident.name)
        entry.link(href=link)
        entry.published(incident.created_at)
        newest = incident.updates[0].display_at if incident.updates else incident.updated_at
        entry.updated(newest)
        content = _feed_content(incident, when)
        entry.content(content, type="html")
        entry.description(content)
    return feed.rss_str(pretty=True), feed.atom_str(pretty=True)


def page_context(view: PageView, *, base_url: str) -> dict[str, Any]:
    """What the public templates need besides `root` (the way back to the page's top)."""
    zone = ZoneInfo(view.time_zone)
    history.fill(view, view.generated_at)
    subscribe = (
        f"{base_url.rstrip('/')}/status/{view.slug}/subscribe" if view.allow_subscribers else None
    )
    since = view.generated_at - timedelta(days=RECENT_DAYS)
    logo_path = None
    if view.logo and view.logo_content_type:
        logo_path = f"assets/logo.{look.EXTENSIONS.get(view.logo_content_type, 'img')}"
    return {
        "page": view,
        "when": _when(zone),
        "labels": STATUS_LABELS,
        "fmt_uptime": history.fmt_uptime,
        "logo_path": logo_path,
        "subscribe_url": subscribe,
        "css_version": hashlib.sha256(_stylesheet(view)).hexdigest()[:10],
        "recent": [i for i in view.past if (i.resolved_at or i.updated_at) >= since],
        "recent_days": RECENT_DAYS,
    }


def render_template(name: str, context: dict[str, Any]) -> str:
    return _env().get_template(name).render(**context)


def build_files(view: PageView, *, base_url: str) -> list[File]:
    """Every file of the page, from its view (already filtered: see present.py)."""
    zone = ZoneInfo(view.time_zone)
    common = page_context(view, base_url=base_url)
    when = common["when"]
    files = [File(CSS_PATH, "text/css; charset=utf-8", _stylesheet(view))]
    if common["logo_path"] and view.logo and view.logo_content_type:
        files.append(File(common["logo_path"], view.logo_content_type, view.logo))
    env = _env()

    def html(template: str, path: str, **extra: Any) -> None:
        depth = path.count("/")
        root = "../" * depth if depth else "./"
        body = env.get_template(template).render({**common, "root": root, **extra})
        files.append(File(path, HTML, body.encode()))

    html("statuspages/public/index.html", "index.html")
    html("statuspages/public/history.html", "history/index.html", months=_month_groups(view, zone))
    for incident in view.incidents:
        html(
            "statuspages/public/incident.html",
            f"incidents/{incident.id}/index.html",
            incident=incident,
        )
    for path, document in statusjson.documents(view).items():
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        files.append(File(path, JSON_TYPE, body))
    rss, atom = _feeds(view, when)
    files.append(File("history.rss", "application/rss+xml; charset=utf-8", rss))
    files.append(File("history.atom", "application/atom+xml; charset=utf-8", atom))
    return files


def render_page(session: Session, page_id: int, *, settings: Settings, force: bool = False) -> bool:
    """Job: render the page's files and store them with the version they show. Returns
    False when there was nothing new to render (another job got there first)."""
    page = session.get(StatusPage, page_id, with_for_update=True)
    if page is None:
        return False
    session.refresh(page)  # the version as of the lock, not as first loaded
    version = page.content_version
    if not force and page.rendered_version >= version:
        return False
    now = utcnow()
    view = load_page_view(session, page, settings.base_url, now=now)
    files = build_files(view, base_url=settings.base_url)
    session.execute(delete(RenderedFile).where(RenderedFile.page_id == page.id))
    session.add_all(
        RenderedFile(
            page_id=page.id,
            path=f.path,
            content_type=f.content_type,
            body=f.body,
            etag=f.etag,
            version=version,
            rendered_at=now,
        )
        for f in files
    )
    page.rendered_version = version
    page.rendered_at = now
    session.flush()
    if exports_enabled(settings) and page.visibility == Visibility.public.value:
        enqueue(session, EXPORT_JOB, {"page_id": page.id, "version": version})
    return True


def exports_enabled(settings: Settings) -> bool:
    return bool(settings.statuspage_export_dir or settings.statuspage_export_command)


def rerender_all(session: Session) -> int:
    """Periodic job: render every page again (the uptime bars move with the days)."""
    ids = list(session.scalars(select(StatusPage.id).order_by(StatusPage.id)))
    for page_id in ids:
        enqueue(session, RENDER_JOB, {"page_id": page_id, "force": True})
    return len(ids)


def stored_files(session: Session, page: StatusPage) -> list[RenderedFile]:
    return list(
        session.scalars(
            select(RenderedFile).where(RenderedFile.page_id == page.id).order_by(RenderedFile.path)
        )
    )
