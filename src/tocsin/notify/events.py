"""What happens to a page, as domain events (`tocsin.bus`)."""

from __future__ import annotations

from dataclasses import dataclass

from tocsin.bus import Event


@dataclass(frozen=True)
class NotificationSent(Event):
    """A page reached a person's contact method (the channel accepted it)."""

    notification_id: int
    incident_id: int
    user_id: int
    contact_method_id: int
    channel: str
