"""The seeded history of the Insights benchmark (`bench/insights.py`, which measures it).

`generate` bulk-inserts into a migrated database (`tocsin db upgrade`: the schema, and the
defaults a new install gets; nothing else written yet), in one transaction, a seeded-random
history of the last two years with SQLAlchemy Core (executemany in batches; COPY on
PostgreSQL): people, teams, services, integrations, schedules with a weekly rotation,
escalation policies, incidents with their services, roles and timeline, alerts with a
heavy-tailed spread over dedup keys, suppressed and held events, pages (escalation runs, steps
and notifications), postmortems and action items. `SCALES` names its sizes. The same seed
gives the same history, relative to the moment it runs (which incidents are still open, what
is overdue, shifts by a few rows from one run to the next).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import run as harness  # noqa: E402  (bench/run.py: its log)
from sqlalchemy import JSON, Connection, Table, create_engine, func, select, text  # noqa: E402

from tocsin.alerts.models import (  # noqa: E402
    Alert,
    Event,
    Integration,
    MaintenanceWindow,
    SuppressionRule,
)
from tocsin.alerts.outcomes import Outcome  # noqa: E402
from tocsin.catalog.models import Service, Team, User, team_members  # noqa: E402
from tocsin.db import table_of  # noqa: E402
from tocsin.definitions.models import IncidentRole, IncidentType, Severity  # noqa: E402
from tocsin.escalation.models import (  # noqa: E402
    EscalationLevel,
    EscalationPolicy,
    EscalationRun,
    EscalationStep,
    EscalationTarget,
    ServicePaging,
)
from tocsin.incidents.models import (  # noqa: E402
    ActionItem,
    Counter,
    Incident,
    RoleAssignment,
    TimelineEntry,
    incident_services,
)
from tocsin.notify.models import ContactMethod, Notification, NotificationRule  # noqa: E402
from tocsin.postmortems.models import Postmortem, PostmortemSection  # noqa: E402
from tocsin.postmortems.template import SECTIONS  # noqa: E402
from tocsin.schedules.models import Layer, Schedule  # noqa: E402

SEED = 18
# Events older than Settings.event_retention_days (90) are purged by the server's engine: the
# generated ones are all younger, as on a real install.
EVENT_DAYS = 85

TIME_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
)
FIRST_NAMES = (  # noqa: SIM905  (a list of words reads better as words)
    "Ada Alan Amara Ben Chen Dara Eli Fatima Grace Hugo Ines Jonas Kai Lena Maya Noor "
    "Omar Priya Quinn Rosa Sam Tariq Uma Vera Wei Ximena Yusuf Zoe"
).split()
LAST_NAMES = (  # noqa: SIM905  (a list of words reads better as words)
    "Abe Baker Costa Dubois Eriksen Fischer Garcia Haddad Ito Jensen Kowalski Lopez "
    "Moreau Nakamura Okafor Petrov Quist Rossi Singh Tanaka Urban Varga Weber Xu Yilmaz "
    "Zhang"
).split()
TEAM_WORDS = (  # noqa: SIM905  (a list of words reads better as words)
    "Payments Checkout Search Identity Platform Storage Network Data Mobile Web Billing "
    "Messaging Catalog Pricing Fraud Growth Ads Maps Media Video Security Observability "
    "Release Edge Database Cache Queue Auth Ledger Risk Support Warehouse Logistics "
    "Inventory Recommendations Notifications Gateway Compute Kubernetes Analytics"
).split()
SERVICE_WORDS = (  # noqa: SIM905  (a list of words reads better as words)
    "api worker db cache frontend gateway scheduler ingest export sync"
).split()
SYMPTOMS = (
    "elevated error rate",
    "high latency",
    "unavailable",
    "degraded performance",
    "failed deployment",
    "queue backlog",
    "certificate expiry",
    "disk full",
    "memory pressure",
    "data inconsistency",
)
ALERT_SOURCES = ("prometheus", "grafana", "datadog", "cloudwatch", "pingdom", "sentry")
# SEV1..SEV4, skewed to the mild ones.
SEVERITY_WEIGHTS = (0.03, 0.10, 0.37, 0.50)


@dataclass(frozen=True)
class Scale:
    people: int
    teams: int
    services: int
    schedules: int
    incidents: int
    alerts: int
    events: int


SCALES = {
    "full": Scale(500, 40, 200, 40, 100_000, 2_000_000, 100_000),
    "quick": Scale(50, 8, 20, 8, 2_000, 40_000, 2_000),
    "tiny": Scale(20, 4, 8, 4, 50, 500, 50),
}


def log(message: str) -> None:
    harness.log(f"insights: {message}")


# --------------------------------------------------------------------------- bulk writing


BATCH = 10_000


class Writer:
    """Bulk inserts on one connection: executemany in batches, or COPY on PostgreSQL."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.counts: dict[str, int] = {}
        self.tables: dict[str, Table] = {}

    def insert(self, model: Any, rows: Iterable[dict[str, Any]]) -> int:
        table = model if isinstance(model, Table) else table_of(model)
        written = 0
        for batch in batched(rows, BATCH):
            if self.postgres:
                self._copy(table, batch)
            else:
                self.conn.execute(table.insert(), batch)
            written += len(batch)
        self.counts[table.name] = self.counts.get(table.name, 0) + written
        if written >= 100_000:
            log(f"{table.name}: {written:,} rows")
        self.tables[table.name] = table
        return written

    def _copy(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """COPY needs every column the rows leave out that has a Python-side default; JSON
        columns get JSON text (None too: SQLAlchemy's JSON type stores it as JSON null)."""
        names = list(rows[0])
        defaults = {}
        for column in table.columns:
            if column.name in rows[0] or column.default is None:
                continue
            default = column.default
            arg = getattr(default, "arg", None)
            value = arg(None) if callable(arg) else arg
            defaults[column.name] = value
            names.append(column.name)
        as_json = {c.name for c in table.columns if isinstance(c.type, JSON)}
        columns = ", ".join(f'"{name}"' for name in names)
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
            for row in rows:
                values = [row[n] if n in row else defaults[n] for n in names]
                copy.write_row(
                    [
                        json.dumps(v) if n in as_json else v
                        for n, v in zip(names, values, strict=True)
                    ]
                )

    def reset_sequences(self) -> None:
        """PostgreSQL: rows inserted with explicit ids leave the id sequences behind."""
        if not self.postgres:
            return
        for name, table in self.tables.items():
            if "id" not in table.c:
                continue
            sequence = self.conn.execute(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": name}
            ).scalar()
            if sequence:
                self.conn.execute(
                    text(f"SELECT setval('{sequence}', COALESCE((SELECT max(id) FROM {name}), 1))")
                )


def batched(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def next_id(conn: Connection, model: Any) -> int:
    return int(conn.execute(select(func.coalesce(func.max(model.id), 0))).scalar_one()) + 1


# --------------------------------------------------------------------------- the history


@dataclass
class Shape:
    """What later parts of the generation need to know about the earlier ones."""

    now: datetime
    user_ids: list[int] = field(default_factory=list)
    method_of: dict[int, int] = field(default_factory=dict)  # user id -> contact method id
    team_ids: list[int] = field(default_factory=list)
    members: dict[int, list[int]] = field(default_factory=dict)  # team id -> user ids
    services: list[tuple[int, int, str]] = field(default_factory=list)  # id, team id, name
    integration_of: dict[int, int] = field(default_factory=dict)  # service id -> integration
    rotation: dict[int, tuple[str, datetime, list[int]]] = field(default_factory=dict)
    policy_of: dict[int, tuple[int, str]] = field(default_factory=dict)  # team -> (id, name)


@dataclass
class Generated:
    database: str
    seconds: float
    counts: dict[str, int]
    busiest_team_id: int
    busiest_team: str


def generate(database_url: str, scale: Scale, *, seed: int = SEED) -> Generated:
    """Bulk-insert a history of `scale` into a migrated database (defaults seeded, nothing
    else written yet), one transaction; returns the row counts and the busiest team."""
    started = time.monotonic()
    rng = random.Random(seed)
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
                conn.exec_driver_sql("PRAGMA cache_size=-262144")
            writer = Writer(conn)
            shape = Shape(now=datetime.now(UTC).replace(microsecond=0))
            people(conn, writer, rng, scale, shape)
            catalog(conn, writer, rng, scale, shape)
            paging_setup(conn, writer, rng, scale, shape)
            busiest = history(conn, writer, rng, scale, shape)
            writer.reset_sequences()
            counts = dict(writer.counts)
            team_name = conn.execute(select(Team.name).where(Team.id == busiest)).scalar_one()
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("ANALYZE")
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()
    return Generated(
        engine.dialect.name, time.monotonic() - started, counts, busiest, str(team_name)
    )


def people(conn: Connection, w: Writer, rng: random.Random, scale: Scale, s: Shape) -> None:
    first = next_id(conn, User)
    created = s.now - timedelta(days=800)
    rows = []
    for n in range(scale.people):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        role = "admin" if n % 50 == 0 else "viewer" if n % 10 == 9 else "responder"
        rows.append(
            {
                "id": first + n,
                "name": name,
                "email": f"person{n + 1}@bench.example",
                "timezone": TIME_ZONES[rng.randrange(len(TIME_ZONES))],
                "role": role,
                "password_hash": None,
                "active": n % 40 != 39,
                "created_at": created,
            }
        )
    w.insert(User, rows)
    s.user_ids = [r["id"] for r in rows]
    method = next_id(conn, ContactMethod)
    methods, rules = [], []
    for n, user_id in enumerate(s.user_ids):
        s.method_of[user_id] = method + n
        methods.append(
            {
                "id": method + n,
                "user_id": user_id,
                "kind": "email",
                "label": "Work email",
                "target": f"person{n + 1}@bench.example",
                "signing_salt": "",
                "enabled": True,
                "created_at": created,
            }
        )
        for urgency in ("high", "low"):
            rules.append(
                {
                    "user_id": user_id,
                    "urgency": urgency,
                    "position": 0,
                    "delay_minutes": 0,
                    "contact_method_id": method + n,
                    "created_at": created,
                }
            )
    w.insert(ContactMethod, methods)
    w.insert(NotificationRule, rules)


def catalog(conn: Connection, w: Writer, rng: random.Random, scale: Scale, s: Shape) -> None:
    """Teams (sizes skewed), memberships, services spread over the teams, an integration each."""
    created = s.now - timedelta(days=800)
    first = next_id(conn, Team)
    s.team_ids = [first + n for n in range(scale.teams)]
    teams = [
        {
            "id": team_id,
            "name": TEAM_WORDS[n % len(TEAM_WORDS)]
            + (f" {n // len(TEAM_WORDS) + 1}" if n >= len(TEAM_WORDS) else ""),
            "description": "Generated by bench/insights.py",
            "created_at": created,
        }
        for n, team_id in enumerate(s.team_ids)
    ]
    w.insert(Team, teams)
    # Everyone in one team, one in five in a second; each team has at least two people.
    people = list(s.user_ids)
    rng.shuffle(people)
    s.members = {t: [] for t in s.team_ids}
    for n, user_id in enumerate(people):
        team_id = s.team_ids[n % scale.teams]
        s.members[team_id].append(user_id)
        if rng.random() < 0.2:
            other = rng.choice(s.team_ids)
            if user_id not in s.members[other]:
                s.members[other].append(user_id)
    w.insert(
        team_members,
        ({"team_id": t, "user_id": u} for t, users in s.members.items() for u in users),
    )
    # Services: the first teams own more (a Zipf-like spread), every team owns at least one.
    weights = [1 / (k + 1) ** 0.8 for k in range(scale.teams)]
    owners = list(s.team_ids) + rng.choices(s.team_ids, weights, k=scale.services - scale.teams)
    first = next_id(conn, Service)
    rows = []
    for n, team_id in enumerate(owners):
        team_name = teams[s.team_ids.index(team_id)]["name"]
        name = f"{team_name} {SERVICE_WORDS[n % len(SERVICE_WORDS)]} {n + 1}"
        rows.append(
            {
                "id": first + n,
                "name": name,
                "description": "Generated by bench/insights.py",
                "team_id": team_id,
                "tier": 1 + n % 3,
                "created_at": created,
            }
        )
        s.services.append((first + n, team_id, name))
    w.insert(Service, rows)
    first = next_id(conn, Integration)
    integrations = []
    for n, (service_id, _, name) in enumerate(s.services):
        key = f"{rng.getrandbits(128):032x}"
        s.integration_of[service_id] = first + n
        integrations.append(
            {
                "id": first + n,
                "service_id": service_id,
                "name": f"{name} alerts",
                "type": ("pagerduty", "alertmanager", "grafana")[n % 3],
                "key_hash": hashlib.sha256(key.encode()).hexdigest(),
                "key_prefix": key[:8],
                "config": {},
                "created_at": created,
                "disabled_at": None,
                "last_event_at": s.now - timedelta(minutes=n),
            }
        )
    w.insert(Integration, integrations)


def paging_setup(conn: Connection, w: Writer, rng: random.Random, scale: Scale, s: Shape) -> None:
    """One schedule (a weekly rotation of 8-12 team members) and one escalation policy per
    team (level 1: the schedule; level 2: the team's first member), on every service."""
    created = s.now - timedelta(days=800)
    start = (s.now - timedelta(days=760)).date()
    start -= timedelta(days=start.weekday())  # a Monday
    schedule, layer = next_id(conn, Schedule), next_id(conn, Layer)
    policy, level = next_id(conn, EscalationPolicy), next_id(conn, EscalationLevel)
    schedules, layers, policies, levels, targets = [], [], [], [], []
    for n, team_id in enumerate(s.team_ids):
        members = s.members[team_id]
        zone = TIME_ZONES[n % len(TIME_ZONES)]
        rota = members[: rng.randint(8, 12)]
        team_name = f"Team {team_id}"
        has_schedule = n < scale.schedules
        if has_schedule:
            schedules.append(
                {
                    "id": schedule + n,
                    "name": f"{team_name} primary",
                    "description": "Generated by bench/insights.py",
                    "timezone": zone,
                    "team_id": team_id,
                    "created_at": created,
                }
            )
            layers.append(
                {
                    "id": layer + n,
                    "schedule_id": schedule + n,
                    "position": 0,
                    "name": "Weekly",
                    "kind": "rotation",
                    "shift_length": 1,
                    "shift_unit": "weeks",
                    "handoff_time": clock(9, 0),
                    "timezone": zone,
                    "start_date": start,
                    "end": None,
                    "member_ids": rota,
                    "import_report": {},
                    "version": rng.getrandbits(62),
                    "created_at": created,
                }
            )
            handoff = datetime.combine(start, clock(9, 0))
            s.rotation[team_id] = (zone, handoff, rota)
        policies.append(
            {
                "id": policy + n,
                "name": f"{team_name} escalation",
                "description": "Generated by bench/insights.py",
                "repeat": 0,
                "team_id": team_id,
                "created_at": created,
                "updated_at": created,
            }
        )
        s.policy_of[team_id] = (policy + n, f"{team_name} escalation")
        for position in (0, 1):
            level_id = level + 2 * n + position
            levels.append(
                {
                    "id": level_id,
                    "policy_id": policy + n,
                    "position": position,
                    "delay_minutes": 15,
                    "round_robin": False,
                    "round_robin_next": 0,
                    "window": None,
                }
            )
            on_schedule = position == 0 and has_schedule
            targets.append(
                {
                    "level_id": level_id,
                    "kind": "schedule" if on_schedule else "user",
                    "user_id": None if on_schedule else members[0],
                    "schedule_id": schedule + n if on_schedule else None,
                    "team_id": None,
                }
            )
    w.insert(Schedule, schedules)
    w.insert(Layer, layers)
    w.insert(EscalationPolicy, policies)
    w.insert(EscalationLevel, levels)
    w.insert(EscalationTarget, targets)
    w.insert(
        ServicePaging,
        (
            {
                "service_id": service_id,
                "policy_id": s.policy_of[team_id][0],
                "low_urgency": "notify",
                "support_hours": None,
                "updated_at": created,
            }
            for service_id, team_id, _ in s.services
        ),
    )


def on_call(s: Shape, team_id: int, at: datetime, rng: random.Random) -> int:
    """Who the team's weekly rotation has on call at `at` (shifts cut at 09:00 local time)."""
    if team_id not in s.rotation:
        return rng.choice(s.members[team_id])
    zone, handoff, rota = s.rotation[team_id]
    local = at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return rota[((local - handoff).days // 7) % len(rota)]


@dataclass
class Made:
    """One generated incident, as the later tables need it."""

    id: int
    number: int
    team_id: int
    service_ids: list[int]
    severity: int  # 0 = SEV1
    started: datetime
    detected: datetime
    created: datetime
    acknowledged: datetime | None
    resolved: datetime | None
    closed: datetime | None
    commander: int | None
    drill: bool


def history(conn: Connection, w: Writer, rng: random.Random, scale: Scale, s: Shape) -> int:
    """Incidents and everything about them; returns the id of the team with most incidents."""
    severities = [
        conn.execute(select(Severity.id).where(Severity.name == f"SEV{n}")).scalar_one()
        for n in (1, 2, 3, 4)
    ]
    types = list(conn.execute(select(IncidentType.id).order_by(IncidentType.id)).scalars())
    commander_role = conn.execute(
        select(IncidentRole.id).where(IncidentRole.slug == "incident_commander")
    ).scalar_one()
    by_team: dict[int, list[tuple[int, str]]] = {}
    for service_id, team_id, name in s.services:
        by_team.setdefault(team_id, []).append((service_id, name))
    team_weights = [1 / (k + 1) ** 0.7 for k in range(len(s.team_ids))]
    span = timedelta(days=730).total_seconds()
    # Growth: later months have more incidents (the square root of a uniform number).
    starts = sorted(
        s.now - timedelta(seconds=span * (1 - math.sqrt(rng.random())) + 600)
        for _ in range(scale.incidents)
    )
    teams = rng.choices(s.team_ids, team_weights, k=scale.incidents)
    first = next_id(conn, Incident)
    number_base = int(
        conn.execute(select(func.coalesce(func.max(Incident.number), 0))).scalar_one()
    )
    made: list[Made] = []
    rows = []
    for n, (started, team_id) in enumerate(zip(starts, teams, strict=True)):
        severity = rng.choices(range(4), SEVERITY_WEIGHTS)[0]
        own = by_team[team_id]
        chosen = [rng.choice(own)]
        for _ in range(rng.choices((0, 1, 2), (0.7, 0.22, 0.08))[0]):
            extra = rng.choice(s.services)
            if extra[0] not in [c[0] for c in chosen]:
                chosen.append((extra[0], extra[2]))
        detected = started + timedelta(seconds=rng.expovariate(1 / 300))
        created = detected + timedelta(seconds=rng.uniform(5, 90))
        age = s.now - started
        acknowledged = None
        if rng.random() < 0.92:
            acknowledged = created + timedelta(seconds=rng.expovariate(1 / (120 + 90 * severity)))
        resolved = closed = None
        still_open = age < timedelta(hours=36) and rng.random() < 0.5
        if not still_open:
            minutes = rng.lognormvariate(math.log(45 + 30 * (3 - severity)), 1.0)
            resolved = (acknowledged or created) + timedelta(minutes=min(minutes, 4000))
            if resolved >= s.now:
                resolved = None
        if resolved is not None and rng.random() < 0.5:
            closed = resolved + timedelta(hours=rng.uniform(1, 72))
            if closed >= s.now:
                closed = None
        if closed is not None:
            status = "closed"
        elif resolved is not None:
            status = "resolved"
        elif acknowledged is not None and acknowledged < s.now:
            status = rng.choice(("acknowledged", "investigating", "identified", "monitoring"))
        else:
            status, acknowledged = "triggered", None
        commander = None
        if severity <= 1:
            commander = on_call(s, team_id, created, rng)
        drill = rng.random() < 0.02
        incident_id = first + n
        last = max(t for t in (created, acknowledged, resolved, closed) if t is not None)
        rows.append(
            {
                "id": incident_id,
                "number": number_base + n + 1,
                "title": f"{chosen[0][1]}: {rng.choice(SYMPTOMS)}",
                "description": "Generated by bench/insights.py",
                "type_id": types[0] if rng.random() < 0.7 else rng.choice(types),
                "severity_id": severities[severity],
                "priority_id": None,
                "status": status,
                "urgency": "low" if severity == 3 and rng.random() < 0.5 else "high",
                "declared_without_paging": False,
                "customer_impact": "",
                "resolution_summary": "",
                "links": [],
                "custom_fields": {},
                "drill": drill,
                "restricted": rng.random() < 0.03,
                "started_at": started,
                "detected_at": detected,
                "acknowledged_at": acknowledged,
                "resolved_at": resolved,
                "closed_at": closed,
                "created_at": created,
                "updated_at": last,
                "created_by_id": rng.choice(s.user_ids),
            }
        )
        made.append(
            Made(
                incident_id,
                number_base + n + 1,
                team_id,
                [c[0] for c in chosen],
                severity,
                started,
                detected,
                created,
                acknowledged,
                resolved,
                closed,
                commander,
                drill,
            )
        )
    w.insert(Incident, rows)
    rows.clear()
    conn.execute(table_of(Counter).delete().where(Counter.name == "incident"))
    w.insert(Counter, [{"name": "incident", "value": number_base + scale.incidents}])
    w.insert(
        incident_services,
        ({"incident_id": m.id, "service_id": sid} for m in made for sid in m.service_ids),
    )
    w.insert(
        RoleAssignment,
        (
            {
                "incident_id": m.id,
                "role_id": commander_role,
                "user_id": m.commander,
                "assigned_at": m.created,
            }
            for m in made
            if m.commander is not None
        ),
    )
    w.insert(TimelineEntry, timeline(made, rng, s.now))
    pages(conn, w, rng, made, s)
    alerts(conn, w, rng, scale, made, s)
    learning(conn, w, rng, made, s)
    counted: dict[int, int] = {}
    for m in made:
        counted[m.team_id] = counted.get(m.team_id, 0) + 1
    return max(counted, key=lambda t: (counted[t], -t))


def timeline(made: list[Made], rng: random.Random, now: datetime) -> Iterator[dict[str, Any]]:
    """About three entries an incident: declared, acknowledged, resolved (and, for 2%,
    reopened then resolved again in place of the acknowledgement)."""
    for m in made:
        yield entry(m.id, "created", f"Incident declared: INC-{m.number}", m.detected, True)
        reopened = m.resolved is not None and rng.random() < 0.02
        if m.acknowledged is not None and not reopened:
            yield entry(
                m.id,
                "status_changed",
                "Changed the status from triggered to acknowledged",
                m.acknowledged,
                False,
                ("triggered", "acknowledged"),
            )
        if m.resolved is not None:
            if reopened:
                first = m.resolved - (m.resolved - m.created) / 2
                yield entry(
                    m.id,
                    "reopened",
                    "Reopened the incident (was resolved)",
                    first + (m.resolved - first) / 3,
                    True,
                    ({"status": "resolved"}, "investigating"),
                )
            before = "investigating" if reopened else "acknowledged"
            yield entry(
                m.id,
                "status_changed",
                f"Changed the status from {before} to resolved",
                m.resolved,
                True,
                (before, "resolved"),
            )


def entry(
    incident_id: int,
    kind: str,
    summary: str,
    at: datetime,
    key_event: bool,
    change: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "kind": kind,
        "summary": summary,
        "body": "",
        "field": "status" if change else None,
        "old_value": change[0] if change else None,
        "new_value": change[1] if change else None,
        "is_key_event": key_event,
        "actor_id": None,
        "occurred_at": at,
        "created_at": at,
    }


def pages(conn: Connection, w: Writer, rng: random.Random, made: list[Made], s: Shape) -> None:
    """An escalation run per incident (drills page nobody): level 1 pages the person on call
    (a second person for 40% of them), level 2 the team's first member for those
    acknowledged late (after 15 minutes) or never, about 14%; one email notification per
    person paged."""
    run_id, step_id = next_id(conn, EscalationRun), next_id(conn, EscalationStep)
    runs, steps, notifications = [], [], []
    for m in (m for m in made if not m.drill):
        service = m.service_ids[0]
        policy_id, policy_name = s.policy_of[m.team_id]
        late = m.acknowledged is None or (m.acknowledged - m.created) > timedelta(minutes=15)
        escalated = late
        paged = [on_call(s, m.team_id, m.created, rng)]
        if rng.random() < 0.4:
            other = rng.choice(s.members[m.team_id])
            if other not in paged:
                paged.append(other)
        levels = [(0, m.created, paged)]
        if escalated:
            lead = s.members[m.team_id][0]
            levels.append((1, m.created + timedelta(minutes=15), [lead]))
        end = m.acknowledged or m.resolved
        state = "acknowledged" if m.acknowledged else "resolved" if m.resolved else "active"
        runs.append(
            {
                "id": run_id,
                "incident_id": m.id,
                "policy_id": policy_id,
                "service_id": service,
                "label": policy_name,
                "reason": "",
                "state": state,
                "first_level_only": False,
                "needs_own_acknowledgement": False,
                "level": levels[-1][0],
                "cycle": 0,
                "next_at": None if end else levels[-1][1] + timedelta(minutes=15),
                "started_at": m.created,
                "started_by_id": None,
                "ended_at": end,
                "ended_reason": state if end else "",
                "acknowledged_by_id": paged[0] if m.acknowledged else None,
            }
        )
        for level, at, people in levels:
            key = f"esc:{run_id}:0:{level}"
            steps.append(
                {
                    "id": step_id,
                    "run_id": run_id,
                    "incident_id": m.id,
                    "cycle": 0,
                    "level": level,
                    "at": at,
                    "decisions": [],
                    "paged_user_ids": people,
                    "outcome": f"Level {level + 1}: paged {len(people)}",
                }
            )
            step_id += 1
            for user_id in people:
                page_key = f"{key}:{user_id}"
                method = s.method_of[user_id]
                sent = at + timedelta(seconds=rng.uniform(1, 20))
                notifications.append(
                    {
                        "incident_id": m.id,
                        "user_id": user_id,
                        "contact_method_id": method,
                        "channel": "email",
                        "method_label": "Work email",
                        "rule_position": 0,
                        "reason": f"level {level + 1} of '{policy_name}'",
                        "page_key": page_key,
                        "idempotency_key": f"{page_key}:{method}:0",
                        "state": "sent",
                        "attempts": 1,
                        "detail": "",
                        "results": {},
                        "planned_at": at,
                        "sent_at": sent,
                        "created_at": at,
                        "updated_at": sent,
                    }
                )
        run_id += 1
    w.insert(EscalationRun, runs)
    w.insert(EscalationStep, steps)
    w.insert(Notification, notifications)


def alerts(
    conn: Connection,
    w: Writer,
    rng: random.Random,
    scale: Scale,
    made: list[Made],
    s: Shape,
) -> None:
    """Alerts: 85% on an incident of their service (during it), the rest on no incident; each
    service's dedup keys drawn from a Zipf-like spread, so a few keys are very noisy. Then the
    suppressed and held (maintenance) events of the last EVENT_DAYS days."""
    keys_per_service = 60
    key_weights = [1 / (k + 1) ** 1.2 for k in range(keys_per_service)]
    key_cumulative = list(accumulate(key_weights))
    service_weights = [1 / (k + 1) ** 0.6 for k in range(len(s.services))]
    service_cumulative = list(accumulate(service_weights))
    span = (s.now - timedelta(days=730), 730 * 86400.0)
    first = next_id(conn, Alert)

    def pick(cumulative: Sequence[float]) -> int:
        return bisect.bisect(cumulative, rng.random() * cumulative[-1])

    class Drawn(NamedTuple):
        created: datetime
        service_id: int
        incident_id: int | None
        key: int  # the key's rank in its service (0: the noisiest)
        open: bool  # an open incident's: a dedup key of its own
        events: int
        last: datetime
        acknowledged: datetime | None
        resolved: datetime | None

    def draw() -> Iterator[Drawn]:
        for _ in range(scale.alerts):
            m = made[rng.randrange(len(made))] if rng.random() < 0.85 else None
            if m is not None:
                service_id = m.service_ids[rng.randrange(len(m.service_ids))]
                created = m.started + timedelta(seconds=rng.uniform(0, 600))
                if created > s.now:
                    created = s.now
            else:
                service_id = s.services[pick(service_cumulative)][0]
                created = span[0] + timedelta(seconds=rng.uniform(0, span[1] - 3600))
            key = pick(key_cumulative)
            # The noisiest keys repeat a lot (a Pareto tail), the others once or twice.
            events = (
                min(int(rng.paretovariate(1.2)), 20_000) if key < 5 else 1 + (rng.random() < 0.2)
            )
            last = created + timedelta(seconds=rng.uniform(0, 60) * events)
            if m is not None and m.resolved is None:
                # Open alerts: one per (integration, dedup key), hence a key of their own.
                acknowledged, resolved = m.acknowledged, None
            else:
                acknowledged = m.acknowledged if m is not None else None
                if acknowledged is not None and acknowledged < created:
                    acknowledged = created
                resolved = m.resolved if m is not None else None
                if resolved is None or resolved < last:
                    resolved = last + timedelta(minutes=rng.uniform(1, 30))
            yield Drawn(
                created, service_id, m.id if m is not None else None, key, resolved is None, events,
                min(last, s.now), acknowledged, resolved,
            )  # fmt: skip

    def rows() -> Iterator[dict[str, Any]]:
        """In order of creation, as ingestion stores them (a period's alerts lie together),
        each with how long its key had been quiet (ingestion's `quiet_seconds`). Drawn at
        random, a key's alerts may overlap, which ingestion never lets happen: the overlap
        gives a negative `quiet_seconds`, which is never a flap."""
        drawn = sorted(draw(), key=lambda d: d.created)
        last_resolved: dict[tuple[int, int], datetime | None] = {}
        for n, d in enumerate(drawn):
            ident = first + n
            if d.open:
                status = "acknowledged" if d.acknowledged else "triggered"
                dedup_key, quiet = f"open-{ident}", None
            else:
                status, dedup_key = "resolved", f"svc{d.service_id}-key{d.key}"
                previous = last_resolved.get((d.service_id, d.key))
                quiet = (
                    None if previous is None else math.ceil((d.created - previous).total_seconds())
                )
                last_resolved[(d.service_id, d.key)] = d.resolved
            yield {
                "id": ident,
                "integration_id": s.integration_of[d.service_id],
                "service_id": d.service_id,
                "incident_id": d.incident_id,
                "dedup_key": dedup_key,
                "group_key": None,
                "grouping_key": dedup_key,
                "status": status,
                "summary": f"{SYMPTOMS[d.key % len(SYMPTOMS)]} ({dedup_key})",
                "severity": ("critical", "error", "warning", "info")[d.key % 4],
                "source": ALERT_SOURCES[d.key % len(ALERT_SOURCES)],
                "details": {},
                "links": [],
                "images": [],
                "event_count": d.events,
                "created_at": d.created,
                "last_event_at": d.last,
                "acknowledged_at": d.acknowledged,
                "resolved_at": d.resolved,
                "quiet_seconds": quiet,
            }

    w.insert(Alert, rows())
    # Suppression rules and maintenance windows of the services their events name.
    created = s.now - timedelta(days=800)
    rule = next_id(conn, SuppressionRule)
    w.insert(
        SuppressionRule,
        (
            {
                "id": rule + n,
                "service_id": service_id,
                "name": "Drop flapping checks",
                "position": 0,
                "matchers": [{"field": "summary", "op": "contains", "value": "flapping"}],
                "action": "drop",
                "severity": None,
                "enabled": True,
                "created_at": created,
            }
            for n, (service_id, _, _) in enumerate(s.services)
        ),
    )
    window = next_id(conn, MaintenanceWindow)
    windows: list[tuple[int, int, datetime]] = []  # id, service id, start
    recent = (s.now - timedelta(days=EVENT_DAYS), (EVENT_DAYS - 1) * 86400.0)
    for n in range(len(s.services) * 4):
        service_id = s.services[n % len(s.services)][0]
        start = recent[0] + timedelta(seconds=rng.uniform(0, recent[1]))
        windows.append((window + n, service_id, start))
    w.insert(
        MaintenanceWindow,
        (
            {
                "id": ident,
                "service_id": service_id,
                "starts_at": start,
                "ends_at": start + timedelta(hours=2),
                "reason": "Planned upgrade",
                "created_by_id": None,
                "created_at": start - timedelta(days=1),
            }
            for ident, service_id, start in windows
        ),
    )

    def events() -> Iterator[dict[str, Any]]:
        for _ in range(scale.events):
            if rng.random() < 0.7:
                index = pick(service_cumulative)
                service_id = s.services[index][0]
                at = recent[0] + timedelta(seconds=rng.uniform(0, recent[1]))
                outcome, rule_id, window_id = Outcome.suppressed.value, rule + index, None
                detail = "dropped by the rule 'Drop flapping checks'"
            else:
                window_id, service_id, start = windows[rng.randrange(len(windows))]
                at = start + timedelta(seconds=rng.uniform(0, 7200))
                outcome, rule_id = Outcome.maintenance.value, None
                detail = "held: the service is in a maintenance window"
            key = f"svc{service_id}-key{pick(key_cumulative)}"
            yield {
                "integration_id": s.integration_of[service_id],
                "service_id": service_id,
                "received_at": at,
                "action": "trigger",
                "dedup_key": key,
                "summary": f"flapping check ({key})",
                "data": "{}",
                "raw": None,
                "request_id": None,
                "outcome": outcome,
                "outcome_detail": detail,
                "processed_at": at,
                "alert_id": None,
                "rule_id": rule_id,
                "maintenance_window_id": window_id,
            }

    w.insert(Event, events())


def learning(conn: Connection, w: Writer, rng: random.Random, made: list[Made], s: Shape) -> None:
    """Postmortems of resolved SEV1/SEV2 incidents (draft to published) with the default
    sections, and their follow-up action items: done, open, or open and overdue."""
    today = s.now.date()
    postmortem = next_id(conn, Postmortem)
    postmortems, sections, items = [], [], []
    for m in made:
        if m.severity > 1 or m.resolved is None or m.drill:
            continue
        meeting_due = m.resolved + timedelta(days=7)
        age = s.now - m.resolved
        if age > timedelta(days=30):
            status = rng.choices(("closed", "reviewed", "in_review", "draft"), (7, 1, 1, 1))[0]
        else:
            status = rng.choice(("closed", "reviewed", "in_review", "draft"))
        met = status in ("reviewed", "closed") and meeting_due < s.now
        meeting_at = meeting_due - timedelta(days=rng.uniform(0, 4)) if met else None
        published = (
            (meeting_at or m.resolved) + timedelta(days=rng.uniform(0.5, 5))
            if status == "closed"
            else None
        )
        if published is not None and published > s.now:
            published = s.now
        owner = m.commander or s.members[m.team_id][0]
        created = m.resolved + timedelta(hours=1)
        postmortems.append(
            {
                "id": postmortem,
                "incident_id": m.id,
                "owner_id": owner,
                "status": status,
                "meeting_due_at": meeting_due,
                "draft_due_at": meeting_due - timedelta(days=1),
                "meeting_at": meeting_at,
                "recording_url": "",
                "version": 1,
                "created_at": created,
                "updated_at": published or created,
                "created_by_id": owner,
                "published_at": published,
            }
        )
        for position, spec in enumerate(SECTIONS):
            sections.append(
                {
                    "postmortem_id": postmortem,
                    "key": spec.key,
                    "title": spec.title,
                    "position": position,
                    "kind": spec.kind,
                    "guidance": spec.guidance,
                    "body": spec.text or "Written by bench/insights.py.",
                    "version": 1,
                    "updated_at": created,
                    "updated_by_id": owner,
                }
            )
        postmortem += 1
        for k in range(rng.randint(1, 4)):
            due = (m.resolved + timedelta(days=rng.randint(7, 60))).date()
            chance = rng.random()
            # Most follow-ups get done; those still open are mostly recent (overdue for weeks,
            # not years): about 1,500 open at full scale.
            done_share = 0.8 if (today - due).days < 90 else 0.99
            if chance < done_share and due <= today:
                at_noon = datetime.combine(due, clock(12), UTC)
                status = "done"
                completed = min(at_noon - timedelta(days=rng.randint(0, 5)), s.now)
            else:
                status, completed = ("in_progress" if rng.random() < 0.3 else "open"), None
            if status == "done" and completed < m.resolved:
                completed = m.resolved + timedelta(hours=2)
            items.append(
                {
                    "incident_id": m.id,
                    "title": f"Follow-up {k + 1} of INC-{m.number}",
                    "description": "",
                    "assignee_id": rng.choice(s.members[m.team_id]),
                    "due_date": due,
                    "status": status,
                    "kind": "follow_up",
                    "priority": ("high", "medium", "low")[k % 3],
                    "tags": [],
                    "created_at": created,
                    "completed_at": completed,
                }
            )
    w.insert(Postmortem, postmortems)
    w.insert(PostmortemSection, sections)
    w.insert(ActionItem, items)


def accumulate(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total
