"""What became of a received event (a module of its own: the event writer process imports it
without the ORM)."""

from __future__ import annotations

import enum


class Outcome(enum.StrEnum):
    """What became of a received event: the answer to "why did (or didn't) this page?"."""

    pending = "pending"  # stored (the sender has its 2xx), not yet applied
    created_alert = "created_alert"
    deduplicated = "deduplicated"
    acknowledged = "acknowledged"
    unacknowledged = "unacknowledged"
    resolved = "resolved"
    updated = "updated"  # the sender changed an alert (message, description, priority) or noted it
    ignored = "ignored"  # e.g. acknowledge or resolve for no open alert
    recorded = "recorded"  # change events and heartbeat pings: kept, never page
    suppressed = "suppressed"  # dropped by a suppression rule
    maintenance = "maintenance"  # held: the service was in a maintenance window
    failed = "failed"  # applying it raised an error; kept with the error for a person to see
    rejected = "rejected"  # refused with a 4xx (bad body); kept with the reasons
