"""What a page says, in every channel's shape: email subject and body, chat text, webhook JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tocsin.db import utcnow
from tocsin.incidents.models import Incident

WEBHOOK_VERSION = 1
# The first line of every page and stakeholder message about a drill.
DRILL_LINE = "DRILL: this is a practice incident, not a real one."


@dataclass(frozen=True)
class PageMessage:
    """Everything a person needs to act on a page from a phone, channel-independent."""

    # "update", "reminder" and "message" are tocsin.comms messages (a subclass words them);
    # other domains' emails (postmortems', workflows') word "message" themselves.
    kind: Literal["page", "test", "shift", "update", "reminder", "message"]
    recipient_name: str
    reason: str
    incident_number: int | None = None
    title: str = ""
    severity: str | None = None
    urgency: str = "high"
    status: str = ""
    services: tuple[str, ...] = ()
    # A practice incident: every shape says so ("[DRILL]" in subjects and titles, DRILL_LINE
    # first in bodies, "drill": true in webhook JSON).
    drill: bool = False
    # A private incident paged to someone outside it: what they are told of it instead of its
    # number and title (its codename), which stand empty.
    codename: str = ""
    # Shift notices (kind "shift"): `title` is the subject line, `reason` what happened.
    schedule_url: str = ""
    settings_url: str = ""
    shift: dict[str, Any] | None = None
    incident_url: str = ""
    acknowledge_url: str = ""
    resolve_url: str = ""
    links_expire_at: datetime | None = None
    # Stable across retries of one delivery (a worker that died after sending but before
    # recording it sends again): the email's Message-ID and the webhook's `delivery_id`, so a
    # receiver can recognise the same page.
    delivery_id: str = ""
    created_at: datetime = field(default_factory=utcnow)

    @property
    def reference(self) -> str:
        if self.codename:
            return self.codename
        return f"INC-{self.incident_number}" if self.incident_number is not None else ""

    @property
    def _drill(self) -> str:
        return "[DRILL] " if self.drill else ""

    @property
    def subject(self) -> str:
        if self.kind == "test":
            return "[Tocsin] Test notification"
        if self.kind == "shift":
            return f"[Tocsin] {self.title}"
        severity = f"{self.severity}, " if self.severity else ""
        title = f": {self.title}" if self.title else ""
        return f"[Tocsin] {self._drill}{self.reference} ({severity}{self.urgency} urgency){title}"

    @property
    def headline(self) -> str:
        """One line for chat and push titles."""
        if self.kind == "test":
            return "Tocsin test notification"
        if self.kind == "shift":
            return self.title
        return f"{self._drill}{self.reference}" + (f": {self.title}" if self.title else "")

    def text(self) -> str:
        """The plain-text body: email, SMS, chat. Links on their own lines for phones."""
        if self.kind == "test":
            lines = [
                f"Hello {self.recipient_name},",
                "",
                "This is a test notification from Tocsin. If you read this, pages will reach "
                "you here.",
                "",
                self.reason,
            ]
            if self.incident_url:
                lines += ["", f"Your notification settings: {self.incident_url}"]
            return "\n".join(lines) + "\n"
        if self.kind == "shift":
            lines = [f"Hello {self.recipient_name},", "", self.reason, ""]
            if self.schedule_url:
                lines.append(f"Schedule: {self.schedule_url}")
            if self.settings_url:
                lines.append(f"Turn shift notifications off or change when they come: "
                             f"{self.settings_url}")  # fmt: skip
            return "\n".join(lines) + "\n"
        lines = [DRILL_LINE, ""] if self.drill else []
        if self.codename:
            lines += [
                f"{self.codename} (a private incident)",
                f"Urgency: {self.urgency} · Status: {self.status}",
                "",
                f"Why you: {self.reason}",
                "",
                "Its details are kept to the people working it: ask its commander to add you.",
                f"Acknowledge: {self.acknowledge_url}",
                f"Resolve: {self.resolve_url}",
            ]
            return "\n".join(lines) + "\n"
        lines += [
            f"{self.reference}: {self.title}",
            f"Severity: {self.severity or 'not set'} · Urgency: {self.urgency}",
            f"Service: {', '.join(self.services) or 'none'}",
            f"Status: {self.status}",
            "",
            f"Why you: {self.reason}",
            "",
            f"Open: {self.incident_url}",
            f"Acknowledge: {self.acknowledge_url}",
            f"Resolve: {self.resolve_url}",
        ]
        if self.links_expire_at is not None:
            expiry = self.links_expire_at.strftime("%Y-%m-%d %H:%M UTC")
            lines += ["", f"The acknowledge and resolve links work once, until {expiry}."]
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        """The signed webhook's body (documented in docs/notifications.md)."""
        body: dict[str, Any] = {
            "version": WEBHOOK_VERSION,
            "type": self.kind,
            "recipient": self.recipient_name,
            "reason": self.reason,
            "sent_at": self.created_at.isoformat(),
        }
        if self.delivery_id:
            body["delivery_id"] = self.delivery_id
        if self.kind == "page":
            body["drill"] = self.drill
            body["incident"] = {
                "number": self.incident_number,
                "reference": self.reference,
                "title": self.title,
                "severity": self.severity,
                "urgency": self.urgency,
                "status": self.status,
                "services": list(self.services),
                "url": self.incident_url,
                "drill": self.drill,
            }
            body["actions"] = {
                "acknowledge": self.acknowledge_url,
                "resolve": self.resolve_url,
                "expires_at": self.links_expire_at.isoformat() if self.links_expire_at else None,
            }
        if self.kind == "shift":
            body["shift"] = {**(self.shift or {}), "schedule_url": self.schedule_url}
        return body


def page_message(
    incident: Incident,
    *,
    recipient_name: str,
    reason: str,
    base_url: str,
    acknowledge_url: str,
    resolve_url: str,
    links_expire_at: datetime,
    delivery_id: str = "",
    outside_name: str | None = None,
) -> PageMessage:
    """A page for `incident`. `outside_name`: the recipient may not see it (a private
    incident), so the page names it so (its codename) instead of its number, title, severity
    and services, and links to nothing but the acknowledge and resolve actions."""
    base = base_url.rstrip("/")
    if outside_name is not None:
        return PageMessage(
            kind="page",
            recipient_name=recipient_name,
            reason=reason,
            codename=outside_name,
            urgency=incident.urgency,
            status=incident.status,
            drill=incident.drill,
            acknowledge_url=acknowledge_url,
            resolve_url=resolve_url,
            links_expire_at=links_expire_at,
            delivery_id=delivery_id,
        )
    return PageMessage(
        kind="page",
        recipient_name=recipient_name,
        reason=reason,
        incident_number=incident.number,
        title=incident.title,
        severity=incident.severity.name if incident.severity else None,
        urgency=incident.urgency,
        status=incident.status,
        services=tuple(s.name for s in incident.services),
        drill=incident.drill,
        incident_url=f"{base}/incidents/{incident.reference}",
        acknowledge_url=acknowledge_url,
        resolve_url=resolve_url,
        links_expire_at=links_expire_at,
        delivery_id=delivery_id,
    )


def test_message(*, recipient_name: str, method_label: str, settings_url: str) -> PageMessage:
    return PageMessage(
        kind="test",
        recipient_name=recipient_name,
        reason=f"Sent because you asked for a test of your contact method {method_label!r}.",
        incident_url=settings_url,
    )
