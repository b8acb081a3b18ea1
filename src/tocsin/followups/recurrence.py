"""Recurrence memory: earlier incidents like this one, and what they left undone.

"Like this one": an earlier incident (a lower number, not a drill) that affected one of the
same services, had an alert with one of the same dedup keys, or had an alert with one of the
same meaningful labels (`alertname=HighLatency`). The incident page shows the most recent few
the viewer may see, with why each is listed, its unfinished follow-ups and how overdue each is.

A label is meaningful unless its name is ignored (`TOCSIN_RECURRENCE_IGNORED_LABELS`): labels
that say where an alert fired or how urgent it is (`severity=critical`, `env=prod`,
`cluster=eu-1`) are on nearly every alert, so sharing one says nothing. Names starting with
`__` (Prometheus' internal labels) and names outside Prometheus' label syntax are ignored too."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from tocsin.alerts.models import Alert
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.followups.queries import UNFINISHED
from tocsin.incidents.access import visible_filter
from tocsin.incidents.models import ActionItem, ActionKind, Incident, incident_services

SHOWN = 5
# This incident's alerts read for their dedup keys and labels (its first ones: an alert storm
# repeats itself), and the label pairs looked for among earlier incidents' alerts.
OWN_ALERTS = 200
LABELS_LOOKED_FOR = 20
# Earlier incidents' alerts searched for shared labels: the most recent this many up to this
# incident's last alert. Labels live inside the alert's JSON details, which no index serves,
# so the search is bounded by the alerts' primary key instead.
LABEL_WINDOW = 5_000
# Labels that say where or how urgent, not what: shared by nearly every alert (the setting's
# default, read without reading the environment).
IGNORED_LABELS: str = Settings.model_fields["recurrence_ignored_labels"].default
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$")
VALUE_MAX = 255
FIRST = ("alertname",)  # looked for first and named first: what fired


def ignored_labels(setting: str) -> frozenset[str]:
    """The label names a comma-separated setting lists, lowercased."""
    return frozenset(n.strip().lower() for n in setting.split(",") if n.strip())


def meaningful(labels: Any, ignored: Collection[str]) -> list[tuple[str, str]]:
    """The (name, value) pairs of an alert's labels that may tie it to another incident."""
    if not isinstance(labels, dict):
        return []
    return [
        (name, value)
        for name, value in labels.items()
        if isinstance(name, str)
        and isinstance(value, str)
        and 0 < len(value.strip()) <= VALUE_MAX
        and LABEL_NAME.match(name)
        and not name.startswith("__")
        and name.lower() not in ignored
    ]


def _label_is(details: Any, pair: tuple[str, str]) -> ColumnElement[bool]:
    name, value = pair
    return details[("labels", name)].as_string() == value


def _most_telling(counts: Counter[tuple[str, str]]) -> list[tuple[str, str]]:
    """alertname first, then the pairs most of this incident's alerts carry."""
    ranked = sorted(counts, key=lambda p: (p[0] not in FIRST, -counts[p], p))
    return ranked[:LABELS_LOOKED_FOR]


@dataclass
class Earlier:
    incident: Incident
    services: list[str]  # the services it shares with this one
    same_alert: bool  # it had an alert with one of this one's dedup keys
    labels: list[str] = field(default_factory=list)  # "alertname=HighLatency" it shares
    follow_ups: list[ActionItem] = field(default_factory=list)  # unfinished, most overdue first


def earlier_like(
    session: Session,
    incident: Incident,
    *,
    viewer: User,
    ignored: Collection[str] = ignored_labels(IGNORED_LABELS),
    limit: int = SHOWN,
) -> list[Earlier]:
    """The most recent earlier incidents (drills left out) sharing a service, an alert dedup
    key or a meaningful alert label with `incident` that `viewer` may see, newest first (six
    queries whatever the count)."""
    service_ids = {s.id for s in incident.services}
    own = session.execute(
        select(Alert.id, Alert.dedup_key, Alert.details["labels"])
        .where(Alert.incident_id == incident.id)
        .order_by(Alert.id)
        .limit(OWN_ALERTS)
    ).all()
    keys = {row.dedup_key for row in own}
    pairs = _most_telling(Counter(p for row in own for p in meaningful(row[2], ignored)))
    if not service_ids and not keys:
        return []
    conditions: list[ColumnElement[bool]] = []
    if service_ids:
        conditions.append(
            Incident.id.in_(
                select(incident_services.c.incident_id).where(
                    incident_services.c.service_id.in_(service_ids)
                )
            )
        )
    if keys:
        conditions.append(
            Incident.id.in_(
                select(Alert.incident_id).where(
                    Alert.dedup_key.in_(keys), Alert.incident_id.is_not(None)
                )
            )
        )
    if pairs:
        recent = (
            select(Alert.incident_id, Alert.details)
            .where(
                Alert.id <= max(row.id for row in own),
                Alert.incident_id.is_not(None),
                Alert.incident_id != incident.id,
            )
            .order_by(Alert.id.desc())
            .limit(LABEL_WINDOW)
            .subquery()
        )
        shared = or_(*(_label_is(recent.c.details, p) for p in pairs))
        conditions.append(Incident.id.in_(select(recent.c.incident_id).where(shared)))
    found = session.scalars(
        select(Incident)
        .where(
            Incident.number < incident.number,
            Incident.drill.is_(False),
            or_(*conditions),
            visible_filter(viewer),
        )
        .order_by(Incident.number.desc())
        .limit(limit)
        .options(selectinload(Incident.services))
    ).all()
    if not found:
        return []
    ids = [i.id for i in found]
    keyed, labelled = _shared(session, ids, keys, pairs)
    by_incident = _unfinished(session, ids)
    return [
        Earlier(
            incident=other,
            services=[s.name for s in other.services if s.id in service_ids],
            same_alert=other.id in keyed,
            labels=[f"{n}={v}" for n, v in labelled.get(other.id, [])],
            follow_ups=by_incident.get(other.id, []),
        )
        for other in found
    ]


def _shared(
    session: Session, ids: list[int], keys: set[str], pairs: list[tuple[str, str]]
) -> tuple[set[int], dict[int, list[tuple[str, str]]]]:
    """Of the incidents `ids`: those with an alert keyed like this one's, and the label
    pairs each shares (one aggregate over their alerts)."""
    if not keys:
        return set(), {}
    columns = [func.max(case((Alert.dedup_key.in_(keys), 1), else_=0))]
    columns += [func.max(case((_label_is(Alert.details, p), 1), else_=0)) for p in pairs]
    rows = session.execute(
        select(Alert.incident_id, *columns)
        .where(Alert.incident_id.in_(ids))
        .group_by(Alert.incident_id)
    ).all()
    keyed = {row[0] for row in rows if row[1]}
    labelled = {row[0]: [p for p, hit in zip(pairs, row[2:], strict=True) if hit] for row in rows}
    return keyed, labelled


def _unfinished(session: Session, ids: Iterable[int]) -> dict[int, list[ActionItem]]:
    """The unfinished follow-ups of each incident, most overdue first."""
    items = session.scalars(
        select(ActionItem)
        .where(
            ActionItem.incident_id.in_(list(ids)),
            ActionItem.kind == ActionKind.follow_up.value,
            ActionItem.status.in_(UNFINISHED),
        )
        .order_by(ActionItem.due_date.is_(None), ActionItem.due_date, ActionItem.id)
    ).all()
    by_incident: dict[int, list[ActionItem]] = {}
    for item in items:
        by_incident.setdefault(item.incident_id, []).append(item)
    return by_incident


def describe(item: ActionItem, today: date) -> str:
    """ "INC-12's follow-up “add failover” is 40 days overdue" (or open, due when)."""
    head = f"{item.incident.reference}'s follow-up “{item.title}”"
    late = item.days_overdue(today)
    if late:
        return f"{head} is {late} day{'s' if late != 1 else ''} overdue"
    if item.due_date is not None:
        return f"{head} is open, due {item.due_date.isoformat()}"
    return f"{head} is open, with no due date"
