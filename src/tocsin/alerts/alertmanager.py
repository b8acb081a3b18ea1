"""The Prometheus Alertmanager webhook (version "4") and Grafana alerting webhook (version
"1") formats: one Tocsin event per alert, keyed by its fingerprint, grouped by groupKey."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tocsin.alerts.pagerduty import SUMMARY_MAX, EventInvalid, ParsedEvent

MAX_ALERTS = 1000
# Label values people use for severity, mapped onto the four event severities.
SEVERITY_WORDS = {
    "critical": "critical",
    "page": "critical",
    "high": "critical",
    "p1": "critical",
    "error": "error",
    "major": "error",
    "p2": "error",
    "warning": "warning",
    "warn": "warning",
    "minor": "warning",
    "p3": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
    "p4": "info",
    "p5": "info",
}


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k)[:255]: str(v)[:4096] for k, v in list(value.items())[:200]}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or value.startswith("0001-01-01"):
        return None
    text = value.replace("Z", "+00:00")
    # Alertmanager sends nanoseconds; Python takes up to microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        zone = rest.lstrip("0123456789")  # ASCII digits: str.isdigit() also takes "²"
        text = f"{head}.{rest[: len(rest) - len(zone)][:6]}{zone}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_webhook(data: Any) -> tuple[str, list[tuple[ParsedEvent, dict[str, Any]]]]:
    """Returns the sender ("alertmanager" or "grafana") and one (event, raw alert) per alert."""
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        raise EventInvalid(
            ["body must be an Alertmanager or Grafana webhook with 'alerts'"],
            "Unrecognized webhook body",
        )
    alerts = data["alerts"]
    if len(alerts) > MAX_ALERTS:
        raise EventInvalid([f"at most {MAX_ALERTS} alerts per request"])
    sender = "grafana" if str(data.get("version")) == "1" else "alertmanager"
    group_key = data.get("groupKey") if isinstance(data.get("groupKey"), str) else None
    common = _strings(data.get("commonLabels"))
    out = []
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise EventInvalid([f"alerts[{index}] must be an object"])
        labels = {**common, **_strings(alert.get("labels"))}
        annotations = _strings(alert.get("annotations"))
        fingerprint = alert.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            # Older senders: derive a stable key from the label set.
            fingerprint = ",".join(f"{k}={labels[k]}" for k in sorted(labels))[:255]
        if not fingerprint:
            raise EventInvalid([f"alerts[{index}] has neither a fingerprint nor labels"])
        status = alert.get("status", data.get("status"))
        if status not in ("firing", "resolved"):
            raise EventInvalid([f"alerts[{index}].status must be firing or resolved"])
        name = labels.get("alertname", "alert")
        summary = annotations.get("summary") or annotations.get("description") or name
        where = labels.get("instance") or labels.get("job") or ""
        if where and where not in summary:
            summary = f"{summary} ({where})"
        links = []
        for key in ("generatorURL", "dashboardURL", "panelURL", "silenceURL"):
            if isinstance(alert.get(key), str) and alert[key].startswith(("http://", "https://")):
                links.append({"href": alert[key][:2048], "text": key.removesuffix("URL")})
        if annotations.get("runbook_url", "").startswith(("http://", "https://")):
            links.append({"href": annotations["runbook_url"][:2048], "text": "runbook"})
        event = ParsedEvent(
            routing_key="",
            action="trigger" if status == "firing" else "resolve",
            dedup_key=fingerprint[:255],
            summary=summary[:SUMMARY_MAX],
            severity=SEVERITY_WORDS.get(labels.get("severity", "").lower(), "error"),
            source=str(data.get("externalURL") or sender)[:255],
            timestamp=_time(alert.get("startsAt")),
            details={"labels": labels, "annotations": annotations},
            links=links,
            group_key=group_key,
        )
        raw = {
            "alert": alert,
            "groupKey": group_key,
            "receiver": data.get("receiver"),
            "status": data.get("status"),
            "version": data.get("version"),
        }
        out.append((event, raw))
    return sender, out
