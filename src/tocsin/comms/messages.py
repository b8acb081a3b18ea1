"""What an update (or a reminder) says, in every channel's shape: email subject and body,
chat text, signed webhook JSON. Never a page: no acknowledge or resolve links, and it says so.

Updates to an external audience carry only what customers may read: the title, the phase and
the text (no severity, no names, no link into Tocsin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.comms.models import Audience
from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.notify.messages import DRILL_LINE, WEBHOOK_VERSION, PageMessage


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class CommsMessage(PageMessage):
    """An update or a reminder; `recipient_name` is a person or a channel."""

    audience: str = Audience.internal.value
    phase: str = ""
    body: str = ""
    author: str = ""
    posted_at: datetime | None = None
    next_update_at: datetime | None = None
    update_id: int | None = None
    timezone: str = "UTC"
    # Reminders: the channel that is due, when it was due, and who may post to it.
    channel_name: str = ""
    due_at: datetime | None = None
    posters: str = ""
    # People: where to stop following; channels: empty.
    unfollow_url: str = ""

    @property
    def external(self) -> bool:
        return self.audience == Audience.external

    def _at(self, when: datetime | None) -> str:
        if when is None:
            return ""
        return when.astimezone(_zone(self.timezone)).strftime("%Y-%m-%d %H:%M %Z")

    @property
    def subject(self) -> str:
        if self.kind == "message":
            return f"[Tocsin] {self._drill}{self.reference}: {self.title}"
        if self.kind == "reminder":
            return f"[Tocsin] {self._drill}{self.reference}: {self.channel_name} is due an update"
        if self.external:
            return f"{self._drill}{self.title}: {self.phase.capitalize()}"
        return (
            f"[Tocsin] {self._drill}{self.reference} update ({self.phase.capitalize()}): "
            f"{self.title}"
        )

    @property
    def headline(self) -> str:
        if self.kind == "message":
            return f"{self._drill}{self.reference}: {self.title}"
        if self.kind == "reminder":
            return f"{self._drill}{self.reference}: {self.channel_name} is due an update"
        if self.external:
            return f"{self._drill}{self.title}: {self.phase.capitalize()}"
        return f"{self._drill}{self.reference} {self.phase.capitalize()}: {self.title}"

    def text(self) -> str:
        lines = [DRILL_LINE, ""] if self.drill else []
        if self.kind == "message":
            lines += [
                f"{self.reference}: {self.title}",
                f"Severity: {self.severity or 'not set'} · Status: {self.status}",
                "",
                self.body,
                "",
                f"Open: {self.incident_url}",
            ]
            if self.reason:
                lines.append(f"You get this because {self.reason}.")
            lines += ["", "This is a message for information, not a page: nothing to "
                      "acknowledge."]  # fmt: skip
            return "\n".join(lines) + "\n"
        if self.kind == "reminder":
            lines += [
                f"Hello {self.recipient_name},",
                "",
                f"{self.channel_name} was due an update about {self.reference} "
                f"({self.title}) at {self._at(self.due_at)}, and none has reached it since.",
                f"Who may post there: {self.posters}.",
                "",
                f"Post an update: {self.incident_url}",
                "",
                "This is a reminder, not a page: there is nothing to acknowledge.",
            ]
            return "\n".join(lines) + "\n"
        if self.external:
            lines += [f"{self.title}: {self.phase.capitalize()}", "", self.body]
            if self.next_update_at is not None:
                lines += ["", f"Next update by {self._at(self.next_update_at)}."]
            return "\n".join(lines) + "\n"
        lines += [
            f"{self.reference}: {self.title}",
            f"Severity: {self.severity or 'not set'} · Status: {self.status}",
            f"Services: {', '.join(self.services) or 'none'}",
            "",
            f"{self.phase.capitalize()} update from {self.author} at {self._at(self.posted_at)}:",
            "",
            self.body,
            "",
        ]
        if self.next_update_at is not None:
            lines += [f"Next update by {self._at(self.next_update_at)}.", ""]
        lines.append(f"Open: {self.incident_url}")
        if self.reason:
            lines.append(f"You get this because {self.reason}.")
        if self.unfollow_url:
            lines.append(f"Stop following: {self.unfollow_url}")
        lines += ["", "This is a status update for information, not a page: nothing to "
                  "acknowledge."]  # fmt: skip
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        """The signed webhook's body (documented in docs/communication.md)."""
        body: dict[str, Any] = {
            "version": WEBHOOK_VERSION,
            "type": self.kind,
            "recipient": self.recipient_name,
            "sent_at": self.created_at.isoformat(),
            "drill": self.drill,
        }
        if self.delivery_id:
            body["delivery_id"] = self.delivery_id
        if self.kind == "message":
            body["message"] = {"body": self.body, "from": self.author}
            body["incident"] = {"number": self.incident_number, "reference": self.reference,
                                "title": self.title, "severity": self.severity,
                                "status": self.status, "url": self.incident_url}  # fmt: skip
            return body
        if self.kind == "reminder":
            body["incident"] = {"reference": self.reference, "title": self.title,
                                "url": self.incident_url}  # fmt: skip
            body["channel"] = self.channel_name
            body["due_at"] = self.due_at.isoformat() if self.due_at else None
            return body
        body["update"] = {
            "id": self.update_id,
            "phase": self.phase,
            "audience": self.audience,
            "body": self.body,
            "posted_at": self.posted_at.isoformat() if self.posted_at else None,
            "next_update_at": self.next_update_at.isoformat() if self.next_update_at else None,
        }
        if self.external:
            body["incident"] = {"title": self.title}
            return body
        body["update"]["author"] = self.author
        body["incident"] = {
            "number": self.incident_number,
            "reference": self.reference,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "services": list(self.services),
            "url": self.incident_url,
        }
        return body


def _about(incident: Incident) -> dict[str, Any]:
    """What every message says of its incident."""
    return {
        "incident_number": incident.number,
        "title": incident.title,
        "severity": incident.severity.name if incident.severity else None,
        "urgency": incident.urgency,
        "status": incident.status,
        "services": tuple(s.name for s in incident.services),
        "drill": incident.drill,
    }


def _incident_url(incident: Incident, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/incidents/{incident.reference}"


def update_message(
    incident: Incident,
    update: StatusUpdate,
    *,
    recipient_name: str,
    base_url: str,
    delivery_id: str,
    reason: str = "",
    timezone: str = "UTC",
    person: bool = False,
) -> CommsMessage:
    url = _incident_url(incident, base_url)
    return CommsMessage(
        kind="update",
        recipient_name=recipient_name,
        reason=reason,
        **_about(incident),
        incident_url=url,
        delivery_id=delivery_id,
        audience=update.visibility,
        phase=update.phase,
        body=update.body,
        author=update.author.name if update.author else "Tocsin",
        posted_at=update.created_at,
        next_update_at=update.next_update_at,
        update_id=update.id,
        timezone=timezone,
        unfollow_url=f"{url}#communication" if person else "",
    )


def reminder_message(
    incident: Incident,
    *,
    recipient_name: str,
    channel_name: str,
    due_at: datetime | None,
    posters: str,
    base_url: str,
    delivery_id: str,
    timezone: str = "UTC",
) -> CommsMessage:
    url = _incident_url(incident, base_url)
    return CommsMessage(
        kind="reminder",
        recipient_name=recipient_name,
        reason="",
        incident_number=incident.number,
        title=incident.title,
        status=incident.status,
        incident_url=f"{url}#update-composer",
        delivery_id=delivery_id,
        drill=incident.drill,
        channel_name=channel_name,
        due_at=due_at,
        posters=posters,
        timezone=timezone,
    )


def plain_message(
    incident: Incident,
    body: str,
    *,
    sender: str,
    recipient_name: str,
    base_url: str,
    delivery_id: str,
    reason: str = "",
) -> CommsMessage:
    """A message about the incident that is not an update (a workflow's): its text, the
    incident's reference, title, severity and status, and a link."""
    return CommsMessage(
        kind="message",
        recipient_name=recipient_name,
        reason=reason,
        **_about(incident),
        incident_url=_incident_url(incident, base_url),
        delivery_id=delivery_id,
        body=body,
        author=sender,
    )
