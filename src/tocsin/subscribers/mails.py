"""What subscribers (and page owners) are mailed: plain text and HTML, with the
List-Unsubscribe headers of RFC 2369 and RFC 8058 on every mail to a subscriber.

User text (incident names, update bodies, component names) is escaped in the HTML part;
update bodies are Markdown, rendered only through `tocsin.web.markdown.render_markdown`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from tocsin.statuspages.models import (
    Component,
    ComponentChange,
    PageIncident,
    PageIncidentUpdate,
    StatusPage,
)
from tocsin.web.markdown import render_markdown
from tocsin.web.templating import TEMPLATES_DIR

STATUS_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
}


def label(status: str | None) -> str:
    return STATUS_LABELS.get(status or "", (status or "").replace("_", " ").capitalize())


def local_time(value: datetime | None, zone_name: str) -> str:
    if value is None:
        return "—"
    try:
        zone = ZoneInfo(zone_name)
    except Exception:
        zone = ZoneInfo("UTC")
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["markdown"] = render_markdown
    env.filters["label"] = label
    return env


@dataclass(frozen=True)
class Mail:
    """One mail before it becomes an EmailMessage: the parts each kind fills in."""

    subject: str
    heading: str
    lines: list[str]  # plain-text paragraphs (user text as written)
    to: str
    sender_name: str
    markdown: str = ""  # an update body: Markdown in the HTML part, as written in the text
    facts: list[tuple[str, str]] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # name, old, new
    action: tuple[str, str] | None = None  # (label, url): the mail's main link
    footer: list[str] = field(default_factory=list)
    unsubscribe_url: str = ""
    list_id: str = ""
    message_id: str = ""

    def text(self) -> str:
        out = [self.heading, ""]
        for name, value in self.facts:
            out.append(f"{name}: {value}")
        if self.facts:
            out.append("")
        if self.markdown:
            out += [self.markdown.strip(), ""]
        for line in self.lines:
            out += [line, ""]
        if self.changes:
            out.append("Components:")
            out += [f"- {name}: {label(old)} -> {label(new)}" for name, old, new in self.changes]
            out.append("")
        if self.action:
            out += [f"{self.action[0]}:", self.action[1], ""]
        if self.footer or self.unsubscribe_url:
            out.append("--")
            out += self.footer
            if self.unsubscribe_url:
                out.append(f"Unsubscribe: {self.unsubscribe_url}")
        return "\n".join(out).rstrip() + "\n"

    def html(self) -> str:
        context: dict[str, Any] = {"mail": self}
        return _env().get_template("subscribers/mail.html").render(context)

    def message(self, sender_address: str) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = self.subject
        mail["From"] = formataddr((self.sender_name, sender_address))
        mail["To"] = self.to
        if self.message_id:
            mail["Message-ID"] = self.message_id
        mail["Auto-Submitted"] = "auto-generated"
        if self.unsubscribe_url:
            # RFC 8058: mail clients offer one click, which POSTs
            # "List-Unsubscribe=One-Click" to this URL (no form, no token but the URL's).
            mail["List-Unsubscribe"] = f"<{self.unsubscribe_url}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if self.list_id:
            mail["List-Id"] = self.list_id
            mail["Precedence"] = "list"
        mail.set_content(self.text())
        mail.add_alternative(self.html(), subtype="html")
        return mail


@dataclass(frozen=True)
class Envelope:
    """What every subscriber mail carries: who it is to and how to leave."""

    to: str
    page: StatusPage
    page_url: str
    unsubscribe_url: str
    scope: str  # "all components" or "API, Database"
    message_id: str
    mail_domain: str

    @property
    def list_id(self) -> str:
        return f"{self.page.name} <{self.page.public_id}.status.{self.mail_domain}>"

    def footer(self) -> list[str]:
        return [
            f"You subscribed to {self.page.name} ({self.scope}).",
            f"Status page: {self.page_url}",
        ]

    def mail(self, **parts: Any) -> Mail:
        return Mail(
            to=self.to,
            sender_name=self.page.name,
            footer=self.footer(),
            unsubscribe_url=self.unsubscribe_url,
            list_id=self.list_id,
            message_id=self.message_id,
            **parts,
        )


def incident_mail(env: Envelope, incident: PageIncident, update: PageIncidentUpdate) -> Mail:
    zone = env.page.time_zone
    kind = "Maintenance" if incident.is_maintenance else "Incident"
    facts = [("Status", label(update.status)), ("Posted", local_time(update.display_at, zone))]
    if incident.is_maintenance:
        facts += [
            ("Scheduled for", local_time(incident.scheduled_for, zone)),
            ("Until", local_time(incident.scheduled_until, zone)),
        ]
    changes = [
        (str(a.get("name", "")), str(a.get("old_status", "")), str(a.get("new_status", "")))
        for a in update.affected_components or []
    ]
    if not changes and incident.components:
        facts.append(("Components", ", ".join(c.name for c in incident.components)))
    return env.mail(
        subject=f"[{env.page.name}] {incident.name}: {label(update.status)}",
        heading=f"{kind}: {incident.name}",
        lines=[],
        markdown=update.body,
        facts=facts,
        changes=changes,
        action=("Follow it on the status page", f"{env.page_url}/incidents/{incident.public_id}"),
    )


def reminder_mail(env: Envelope, maintenance: PageIncident) -> Mail:
    zone = env.page.time_zone
    latest = maintenance.updates[0] if maintenance.updates else None
    facts = [
        ("Starts", local_time(maintenance.scheduled_for, zone)),
        ("Expected to end", local_time(maintenance.scheduled_until, zone)),
    ]
    if maintenance.components:
        facts.append(("Components", ", ".join(c.name for c in maintenance.components)))
    return env.mail(
        subject=f"[{env.page.name}] Reminder: {maintenance.name} starts "
        f"{local_time(maintenance.scheduled_for, zone)}",
        heading=f"Scheduled maintenance: {maintenance.name}",
        lines=[],
        markdown=latest.body if latest is not None else "",
        facts=facts,
        action=(
            "Details on the status page",
            f"{env.page_url}/incidents/{maintenance.public_id}",
        ),
    )


def component_mail(env: Envelope, change: ComponentChange, component: Component) -> Mail:
    zone = env.page.time_zone
    return env.mail(
        subject=f"[{env.page.name}] {component.name}: {label(change.new_status)}",
        heading=f"{component.name} is now {label(change.new_status).lower()}",
        lines=[],
        facts=[("Changed", local_time(change.created_at, zone))],
        changes=[(component.name, change.old_status, change.new_status)],
        action=("The status page", env.page_url),
    )


def confirmation_mail(
    env: Envelope, *, confirm_url: str, expires_at: datetime, change: bool
) -> Mail:
    page = env.page
    if change:
        first = (
            f"Someone asked to change what this address hears about from {page.name}'s "
            f"status page to: {env.scope}."
        )
    else:
        first = (
            f"Someone asked to send updates from {page.name}'s status page ({env.scope}) "
            "to this address."
        )
    return env.mail(
        subject=f"Confirm your subscription to {page.name}",
        heading=f"Confirm your subscription to {page.name}",
        lines=[
            first,
            "Nothing is sent until you confirm. If it was not you, ignore this mail, or "
            "unsubscribe below and no more mail will come from this page.",
            f"The link works until {local_time(expires_at, page.time_zone)}.",
        ],
        action=("Confirm the subscription", confirm_url),
    )


def quarantine_mail(
    *,
    to: str,
    recipient_name: str,
    page: StatusPage,
    endpoint: str,
    reason: str,
    failures: int,
    failing_since: datetime | None,
    manage_url: str,
    message_id: str,
) -> Mail:
    """To a page owner: a webhook subscriber of their page was quarantined (not a page)."""
    return Mail(
        subject=f"[Tocsin] A webhook subscriber of {page.name} was quarantined",
        heading=f"Webhook subscriber of {page.name} quarantined",
        lines=[
            f"Hello {recipient_name},",
            f"The webhook {endpoint} failed {failures} times in a row since "
            f"{local_time(failing_since, page.time_zone)}, so Tocsin stopped sending to it.",
            f"Last error: {reason}",
            "Once the receiver works again, re-activate it on the page's subscriber list.",
        ],
        to=to,
        sender_name="Tocsin",
        action=("The subscriber list", manage_url),
        footer=["You get this because you own this status page in Tocsin."],
        message_id=message_id,
    )
