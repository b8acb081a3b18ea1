"""A heartbeat integration's settings: how often its sender pings, the grace after that, and
the severity of the alert its silence raises. Apart from heartbeat.py (the checker, which
applies events) so that the integration actions in service.py can validate them."""

from __future__ import annotations

from typing import Any

from tocsin import validation as v
from tocsin.alerts.pagerduty import SEVERITIES
from tocsin.errors import ValidationFailed

DEFAULTS = {"interval_seconds": 300, "grace_seconds": 60, "severity": "critical"}


def check_config(value: Any) -> dict[str, Any]:
    """Validate a heartbeat's settings: interval (≥ 10 s), grace (≥ 0), alert severity."""
    data = {**DEFAULTS, **(value or {})}
    unknown = set(data) - set(DEFAULTS)
    if unknown:
        raise ValidationFailed(f"unknown heartbeat settings {sorted(unknown)}", field="config")
    return {
        "interval_seconds": v.integer(
            data["interval_seconds"], "interval_seconds", minimum=10, maximum=7 * 86400
        ),
        "grace_seconds": v.integer(
            data["grace_seconds"], "grace_seconds", minimum=0, maximum=86400
        ),
        "severity": v.one_of(data["severity"], "severity", SEVERITIES),
    }
