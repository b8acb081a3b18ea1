"""The `alerting` section: per service, its integrations (with routing rules), suppression
rules and alert settings.

Unlike the flat sections it reconciles nested lists itself: integrations and suppression rules
are matched by (service, name); ones missing from the file are left alone, like everything
else `apply` does not delete. Integration keys are never in the file: a new integration's key
goes to the caller's `new_keys` list, to be shown once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.alerts import service as alerts
from tocsin.alerts.models import AlertSettings, Integration, SuppressionRule
from tocsin.alerts.rules import check_matchers
from tocsin.catalog.models import Service
from tocsin.errors import DomainError, ValidationFailed

Doc = dict[str, Any]
SETTINGS = (
    "grouping",
    "group_fields",
    "group_window_minutes",
    "auto_resolve",
    "severity_map",
    "urgency_map",
)


@dataclass(frozen=True)
class NewKey:
    """The key of an integration `apply` created: shown to the person once, never stored."""

    service: str
    integration: str
    type: str
    key: str


def _service_named(session: Session, name: str, field: str = "service") -> Service:
    found = session.scalar(select(Service).where(func.lower(Service.name) == name.lower()))
    if found is None:
        raise ValidationFailed(f"no service named {name!r}", field=field)
    return found


def _matchers(matchers: list[Doc]) -> list[Doc]:
    return [{"field": m["field"], "op": m["op"], "value": m["value"]} for m in matchers]


def _rules_doc(integration: Integration) -> list[Doc]:
    return [
        {"service": r.service.name, "matchers": _matchers(r.matchers)}
        for r in integration.routing_rules
    ]


def _integration_doc(integration: Integration) -> Doc:
    doc: Doc = {"name": integration.name, "type": integration.type}
    if integration.config:
        doc["config"] = integration.config
    if integration.disabled_at is not None:
        doc["enabled"] = False
    if integration.routing_rules:
        doc["routing_rules"] = _rules_doc(integration)
    return doc


def _rule_doc(rule: SuppressionRule) -> Doc:
    doc: Doc = {"name": rule.name, "matchers": _matchers(rule.matchers), "action": rule.action}
    if rule.severity:
        doc["severity"] = rule.severity
    if not rule.enabled:
        doc["enabled"] = False
    return doc


def _settings_doc(settings: AlertSettings) -> Doc:
    return {name: getattr(settings, name) for name in SETTINGS}


def current(session: Session) -> dict[str, Doc]:
    """Every service with integrations, suppression rules or its own alert settings."""
    out: dict[str, Doc] = {}
    configured = set(session.scalars(select(AlertSettings.service_id)))
    for service in session.scalars(select(Service).order_by(Service.name)):
        integrations = alerts.list_integrations(session, service.id)
        rules = alerts.list_suppression_rules(session, service.id)
        if not (integrations or rules or service.id in configured):
            continue
        doc: Doc = {"service": service.name}
        if service.id in configured:
            doc["settings"] = _settings_doc(alerts.alert_settings(session, service.id))
        if integrations:
            doc["integrations"] = [_integration_doc(i) for i in integrations]
        if rules:
            doc["suppression_rules"] = [_rule_doc(r) for r in rules]
        out[service.name] = doc
    return out


def _prefixed(exc: DomainError, where: str) -> DomainError:
    exc.field = f"{where}.{exc.field}" if exc.field else where
    return exc


def _check_unique(items: list[Doc], what: str) -> None:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        folded = item["name"].lower()
        if folded in seen:
            raise ValidationFailed(
                f"{item['name']!r} is already defined at {what}[{seen[folded]}]",
                field=f"{what}[{index}].name",
            )
        seen[folded] = index


def _routing(session: Session, rules: list[Doc], where: str) -> list[Doc]:
    out = []
    for index, rule in enumerate(rules):
        target = _service_named(session, rule["service"], f"{where}[{index}].service")
        out.append({"matchers": _matchers(rule["matchers"]), "service_id": target.id})
    return out


def _changes(old: Doc, new: Doc) -> str:
    return ", ".join(f"{k}: {old.get(k)!r} → {v!r}" for k, v in new.items())


def _integration(session: Session, service: Service, doc: Doc, new_keys: list[NewKey]) -> list[str]:
    name = doc["name"]
    label = f"integration {name!r} of {service.name!r}"
    existing = {i.name.lower(): i for i in alerts.list_integrations(session, service.id)}
    found = existing.get(name.lower())
    config = alerts.check_config(doc["type"], doc["config"])
    lines = []
    if found is None:
        found, key = alerts.create_integration(
            session, service_id=service.id, name=name, type=doc["type"], config=config
        )
        new_keys.append(NewKey(service.name, found.name, found.type, key))
        lines.append(f"create {label} ({found.type})")
        if not doc["enabled"]:
            alerts.update_integration(session, found, enabled=False)
    else:
        if found.type != doc["type"]:
            raise ValidationFailed(
                f"is a {found.type} integration; the type cannot change (create another)",
                field="type",
            )
        old = {"config": found.config or {}, "enabled": found.disabled_at is None}
        new = {"config": config, "enabled": doc["enabled"]}
        changed = {k: v for k, v in new.items() if v != old[k]}
        if changed:
            alerts.update_integration(session, found, **changed)
            lines.append(f"update {label}: {_changes(old, changed)}")
    # Routing rules are replaced as a whole when they differ.
    rules = _routing(session, doc["routing_rules"], "routing_rules")
    current_rules = [
        {"matchers": _matchers(r.matchers), "service_id": r.service_id} for r in found.routing_rules
    ]
    cleaned = [
        {**r, "matchers": check_matchers(r["matchers"], f"routing_rules[{i}].matchers")}
        for i, r in enumerate(rules)
    ]
    if cleaned != current_rules:
        before = _rules_doc(found)
        alerts.set_routing_rules(session, found, cleaned)
        session.refresh(found)
        lines.append(f"update routing rules of {label}: {before!r} → {_rules_doc(found)!r}")
    return lines


def _suppression(session: Session, service: Service, doc: Doc) -> list[str]:
    label = f"suppression rule {doc['name']!r} of {service.name!r}"
    existing = {r.name.lower(): r for r in alerts.list_suppression_rules(session, service.id)}
    found = existing.get(doc["name"].lower())
    fields = {
        "name": doc["name"],
        "matchers": check_matchers(doc["matchers"]),
        "action": doc["action"],
        "severity": doc["severity"] if doc["action"] == "downgrade" else None,
    }
    if found is None:
        rule = alerts.create_suppression_rule(session, service_id=service.id, **fields)
        if not doc["enabled"]:
            alerts.update_suppression_rule(session, rule, enabled=False)
        return [f"create {label}"]
    old = {**_rule_doc(found), "severity": found.severity, "enabled": found.enabled}
    new = {**fields, "enabled": doc["enabled"]}
    changed = {k: v for k, v in new.items() if v != old.get(k)}
    if not changed:
        return []
    alerts.update_suppression_rule(session, found, **changed)
    return [f"update {label}: {_changes(old, changed)}"]


def _settings(session: Session, service: Service, doc: Doc) -> list[str]:
    old = _settings_doc(alerts.alert_settings(session, service.id))
    changed = {k: v for k, v in doc.items() if v != old[k]}
    if not changed:
        return []
    alerts.update_alert_settings(session, service.id, **changed)
    return [f"update alert settings of {service.name!r}: {_changes(old, changed)}"]


def reconcile(session: Session, name: str, doc: Doc, new_keys: list[NewKey]) -> list[str]:
    """Make the service's alerting match the document; returns a line per change."""
    service = _service_named(session, name)
    lines: list[str] = []
    _check_unique(doc["integrations"], "integrations")
    _check_unique(doc["suppression_rules"], "suppression_rules")
    if doc["settings"] is not None:
        try:
            lines += _settings(session, service, doc["settings"])
        except DomainError as exc:
            raise _prefixed(exc, "settings") from exc
    for index, item in enumerate(doc["integrations"]):
        try:
            lines += _integration(session, service, item, new_keys)
        except DomainError as exc:
            raise _prefixed(exc, f"integrations[{index}]") from exc
    for index, item in enumerate(doc["suppression_rules"]):
        try:
            lines += _suppression(session, service, item)
        except DomainError as exc:
            raise _prefixed(exc, f"suppression_rules[{index}]") from exc
    return lines
