"""A believable small company with incidents in every state, made through the services."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team, User
from tocsin.db import utcnow
from tocsin.definitions.models import IncidentRole, IncidentType, Priority, Severity
from tocsin.demo.alerting import seed_alerting
from tocsin.demo.comms import seed_comms
from tocsin.demo.escalation import seed_escalation
from tocsin.demo.followers import seed_followers
from tocsin.demo.history import seed_history
from tocsin.demo.roster import seed_roster
from tocsin.demo.schedules import seed_schedules
from tocsin.demo.statuspages import seed_statuspages
from tocsin.demo.subscribers import seed_subscribers
from tocsin.incidents import actions, roles, service, updates
from tocsin.incidents.models import Incident
from tocsin.notify import methods as notify_methods
from tocsin.plan import service as plan

MARKER_TEAM = "Platform"
DEMO_PASSWORD = "tocsin-demo"  # the other demo users' password

TEAMS = [
    ("Platform", "Runs the infrastructure, databases and the deploy pipeline."),
    ("Payments", "Checkout, billing and the payment gateway."),
    ("Customer Support", "First line for customers; owns the help centre."),
    ("Security", "Detection, response and access control."),
]
USERS = [
    ("Priya Natarajan", "priya@example.com", "responder", "Europe/London", ["Platform"]),
    ("Mateo García", "mateo@example.com", "responder", "Europe/Madrid", ["Platform"]),
    ("Hannah Okafor", "hannah@example.com", "responder", "America/New_York", ["Payments"]),
    ("Kenji Watanabe", "kenji@example.com", "responder", "Asia/Tokyo", ["Payments"]),
    ("Sofia Lindqvist", "sofia@example.com", "responder", "Europe/Stockholm", ["Customer Support"]),
    ("Arjun Mehta", "arjun@example.com", "responder", "Asia/Kolkata", ["Security"]),
    ("Claire Dubois", "claire@example.com", "viewer", "Europe/Paris", ["Customer Support"]),
]
SERVICES = [
    ("Checkout", "The web and mobile checkout flow.", "Payments", 1),
    ("Payment Gateway", "Talks to card processors.", "Payments", 1),
    ("Public API", "api.example.com for customers' integrations.", "Platform", 1),
    ("PostgreSQL (primary)", "The main database cluster.", "Platform", 1),
    ("Search", "Product search and autocomplete.", "Platform", 2),
    ("Notifications", "Email and push to customers.", "Platform", 2),
    ("Help Centre", "help.example.com.", "Customer Support", 3),
    ("Single Sign-On", "Staff identity provider.", "Security", 1),
]


# The response plan's own text, after Atlassian's "Sheet" and its incident values.
WHAT_IS_AN_INCIDENT = """An event is an incident if any one of these is true:

- customers cannot complete a purchase, or the public API answers them with errors;
- data may have been exposed to someone who should not see it;
- an alert pages someone out of hours."""
VALUES = """- **Detect:** we know there is a problem before our customers do.
- **Respond:** escalate, escalate, escalate, and tell customers.
- **Recover:** clean it up quickly.
- **Learn:** always blameless.
- **Improve:** never the same incident twice."""


def seed_demo(session: Session, admin_email: str, admin_password: str) -> bool:
    """Create the demo organisation unless it exists. Returns True if it created it."""
    admin = catalog.user_by_email(session, admin_email)
    if admin is None:
        admin = catalog.create_user(
            session,
            name="Alex Admin",
            email=admin_email,
            role="admin",
            timezone="Europe/London",
            password=admin_password,
        )
    if session.scalar(select(Team).where(Team.name == MARKER_TEAM)) is not None:
        return False

    teams = {
        name: catalog.create_team(session, name=name, description=desc) for name, desc in TEAMS
    }
    people: dict[str, User] = {"admin": admin}
    for name, email, role, tz, team_names in USERS:
        existing = catalog.user_by_email(session, email)
        people[email.split("@")[0]] = existing or catalog.create_user(
            session,
            name=name,
            email=email,
            role=role,
            timezone=tz,
            password=DEMO_PASSWORD,
            team_ids=[teams[t].id for t in team_names],
        )
    catalog.update_team(
        session,
        teams["Platform"],
        {"member_ids": [admin.id, people["priya"].id, people["mateo"].id]},
    )
    services = {
        name: catalog.create_service(
            session, name=name, description=desc, team_id=teams[team].id, tier=tier
        )
        for name, desc, team, tier in SERVICES
    }
    # Before the incidents: their services' followers become their stakeholders.
    seed_followers(session, people, teams, services)
    # Thirteen weeks of past incidents for Insights, first: the oldest get the lowest numbers.
    seed_history(session, people, services)
    Demo(session, people, services).incidents()
    seed_alerting(session, people["admin"], services)
    _notifications(session, people)
    seed_schedules(session, people, teams)
    seed_roster(session, people)
    seed_escalation(session, people, teams, services)
    seed_comms(session, people, teams)
    plan.set_texts(session, what_is_an_incident=WHAT_IS_AN_INCIDENT, values=VALUES)
    seed_statuspages(session, people, teams, services)
    # Needs a status page (the status pages' demo makes one first; without it, nothing).
    seed_subscribers(session, admin)
    return True


def _notifications(session: Session, people: dict[str, User]) -> None:
    """Everyone is reached by email; responders add a second, later email for high urgency
    (a stand-in for SMS: the demo has no SMS provider)."""
    for person in people.values():
        work, _ = notify_methods.create_contact_method(
            session, person, by=person, kind="email", target=person.email, label="Work email"
        )
        notify_methods.create_rule(
            session, person, by=person, urgency="high", contact_method_id=work.id
        )
        notify_methods.create_rule(
            session, person, by=person, urgency="low", contact_method_id=work.id
        )
        if person.role == "responder":
            local, domain = person.email.split("@", 1)
            phone, _ = notify_methods.create_contact_method(
                session, person, by=person, kind="email",
                target=f"{local}+phone@{domain}", label="Phone (email to SMS)",
            )  # fmt: skip
            notify_methods.create_rule(
                session, person, by=person, urgency="high",
                contact_method_id=phone.id, delay_minutes=5,
            )  # fmt: skip


class Demo:
    def __init__(
        self, session: Session, people: dict[str, User], services: dict[str, Service]
    ) -> None:
        self.s = session
        self.p = people
        self.services = services
        self.now = utcnow()

    def sev(self, name: str) -> int:
        return self.s.scalars(select(Severity.id).where(Severity.name == name)).one()

    def pri(self, name: str) -> int:
        return self.s.scalars(select(Priority.id).where(Priority.name == name)).one()

    def itype(self, name: str) -> int:
        return self.s.scalars(select(IncidentType.id).where(IncidentType.name == name)).one()

    def role(self, slug: str) -> int:
        return self.s.scalars(select(IncidentRole.id).where(IncidentRole.slug == slug)).one()

    def ago(self, **kw: float) -> datetime:
        return self.now - timedelta(**kw)

    def declare(self, who: str, started: datetime, detected: datetime, **kw: Any) -> Incident:
        services = kw.pop("services", [])
        return service.declare(
            self.s,
            by=self.p[who],
            started_at=started,
            detected_at=detected,
            service_ids=[self.services[n].id for n in services],
            **kw,
        )

    def assign(self, incident: Incident, slug: str, who: str, by: str) -> None:
        roles.assign_role(
            self.s, incident, role_id=self.role(slug), user_id=self.p[who].id, by=self.p[by]
        )

    def move(self, incident: Incident, status: str, who: str, at: datetime) -> None:
        service.change_status(self.s, incident, status, by=self.p[who], occurred_at=at)

    def note(
        self, incident: Incident, text: str, who: str, at: datetime, key: bool = False
    ) -> None:
        service.add_note(self.s, incident, text, by=self.p[who], occurred_at=at, key_event=key)

    def update(
        self,
        incident: Incident,
        phase: str,
        who: str,
        at: datetime,
        text: str | None = None,
        external: bool = False,
        next_in: timedelta | None = None,
    ) -> None:
        """An update posted at `at`, inside the incident's timeline; the next one promised
        `next_in` after it (which must still lie ahead)."""
        due = at + next_in if next_in else None
        body = text or updates.render_template(self.s, incident, phase, next_update_at=due)
        updates.post_update(
            self.s,
            incident,
            phase=phase,
            body=body,
            by=self.p[who],
            visibility="external" if external else "internal",
            next_update_at=due,
            occurred_at=at,
        )

    def item(
        self,
        incident: Incident,
        title: str,
        who: str | None,
        at: datetime,
        due_days: int | None,
        kind: str = "follow_up",
        status: str | None = None,
    ) -> None:
        """An item agreed at `at` (a follow-up at the postmortem's review meeting, or when
        the incident was resolved), due `due_days` from today: negative ones are overdue."""
        due = self.now.date() + timedelta(days=due_days) if due_days is not None else None
        item = actions.add_action_item(
            self.s,
            incident,
            title=title,
            kind=kind,
            due_date=due,
            assignee_id=self.p[who].id if who else None,
            by=self.p["admin"],
            occurred_at=at,
        )
        if status:
            actions.update_action_item(self.s, item, {"status": status}, by=self.p["admin"])

    def incidents(self) -> None:
        # Closed: a database failover last week, with a full follow-up.
        db = self.declare(
            "priya",
            self.ago(days=6, hours=3),
            self.ago(days=6, hours=2, minutes=52),
            title="Primary database failover caused 9 minutes of write errors",
            severity_id=self.sev("SEV1"),
            priority_id=self.pri("P1"),
            type_id=self.itype("Service outage"),
            services=["PostgreSQL (primary)", "Checkout", "Public API"],
            customer_impact="Orders and API writes failed for 9 minutes.",
            custom_fields={
                "detection_source": "Monitoring alert",
                "regions": ["EU", "US"],
                "error_rate": 38,
            },
        )
        self.move(db, "acknowledged", "priya", self.ago(days=6, hours=2, minutes=50))
        self.assign(db, "incident_commander", "priya", "priya")
        self.assign(db, "scribe", "mateo", "priya")
        self.note(
            db,
            "Replica lag alarms fired two minutes before the primary stopped.",
            "mateo",
            self.ago(days=6, hours=2, minutes=47),
            key=True,
        )
        self.move(db, "identified", "priya", self.ago(days=6, hours=2, minutes=40))
        self.note(
            db,
            "Failover to replica 2 finished; writes recovering.",
            "mateo",
            self.ago(days=6, hours=2, minutes=35),
            key=True,
        )
        self.move(db, "monitoring", "priya", self.ago(days=6, hours=2, minutes=30))
        self.move(db, "resolved", "priya", self.ago(days=6, hours=2))
        # Follow-ups agreed at the postmortem's review meeting, two days after the failover
        # (PagerDuty: within three for a SEV1), and the incident closed after it. The alert
        # was wanted the next day and is still missing.
        review = self.ago(days=4, hours=2)
        self.move(db, "closed", "priya", self.ago(days=4))
        self.item(db, "Alert on replica lag above 30 s", "mateo", review, -3)
        self.item(db, "Run a failover drill every quarter", "priya", review, 20)
        self.item(db, "Document the manual failover runbook", "priya", review, -1, status="done")

        # Resolved: payments declined at one processor.
        pay = self.declare(
            "hannah",
            self.ago(hours=20),
            self.ago(hours=19, minutes=50),
            title="Card payments declined for customers of one processor",
            severity_id=self.sev("SEV2"),
            priority_id=self.pri("P1"),
            type_id=self.itype("Service outage"),
            services=["Payment Gateway", "Checkout"],
            customer_impact="About 12% of card payments were declined.",
            custom_fields={"detection_source": "Customer report", "regions": ["EU"]},
        )
        self.move(pay, "investigating", "hannah", self.ago(hours=19, minutes=45))
        self.assign(pay, "incident_commander", "hannah", "hannah")
        self.assign(pay, "comms_external", "sofia", "hannah")
        self.update(pay, "investigating", "sofia", self.ago(hours=19, minutes=40), external=True)
        self.note(
            pay,
            "Processor status page confirms an incident on their side.",
            "kenji",
            self.ago(hours=19, minutes=20),
            key=True,
        )
        self.update(pay, "identified", "sofia", self.ago(hours=19, minutes=10), external=True)
        self.update(pay, "resolved", "sofia", self.ago(hours=18, minutes=25), external=True)
        self.item(
            pay, "Route around a failing processor automatically", "kenji", self.ago(hours=18), 14
        )

        # Monitoring: search latency after a reindex.
        search = self.declare(
            "mateo",
            self.ago(hours=3),
            self.ago(hours=2, minutes=55),
            title="Search results slow after the nightly reindex",
            severity_id=self.sev("SEV3"),
            priority_id=self.pri("P2"),
            services=["Search"],
            customer_impact="Search takes 3–5 s instead of 300 ms.",
        )
        self.move(search, "acknowledged", "mateo", self.ago(hours=2, minutes=50))
        self.assign(search, "incident_commander", "mateo", "mateo")
        self.update(
            search,
            "identified",
            "mateo",
            self.ago(hours=2, minutes=30),
            "The reindex left the cache cold; we are warming it.",
        )
        self.update(
            search, "monitoring", "mateo", self.ago(minutes=25), next_in=timedelta(minutes=45)
        )
        self.item(search, "Warm the cache before switching indexes", "mateo", self.ago(hours=2), 7)

        # Identified: notification emails delayed.
        mail = self.declare(
            "priya",
            self.ago(minutes=95),
            self.ago(minutes=80),
            title="Order confirmation emails delayed by up to 40 minutes",
            severity_id=self.sev("SEV3"),
            priority_id=self.pri("P3"),
            services=["Notifications"],
            customer_impact="Customers get their confirmations late.",
        )
        self.move(mail, "investigating", "priya", self.ago(minutes=78))
        self.assign(mail, "incident_commander", "priya", "priya")
        self.update(
            mail,
            "identified",
            "priya",
            self.ago(minutes=50),
            "The email provider is throttling us; we are spreading sends.",
            next_in=timedelta(minutes=60),
        )
        self.item(
            mail,
            "Raise the provider's sending limit",
            "priya",
            self.ago(minutes=45),
            1,
            kind="incident",
            status="in_progress",
        )

        # Investigating: the public API returns 502s.
        api = self.declare(
            "kenji",
            self.ago(minutes=25),
            self.ago(minutes=22),
            title="Public API returning 502 for a share of requests",
            severity_id=self.sev("SEV2"),
            priority_id=self.pri("P1"),
            type_id=self.itype("Service outage"),
            services=["Public API"],
            custom_fields={"detection_source": "Monitoring alert", "error_rate": 7.5},
        )
        self.move(api, "investigating", "kenji", self.ago(minutes=20))
        self.assign(api, "incident_commander", "admin", "kenji")
        self.assign(api, "sme", "kenji", "admin")
        self.note(
            api,
            "Errors started with deploy 2291 of the edge proxy.",
            "kenji",
            self.ago(minutes=18),
            key=True,
        )
        self.update(
            api,
            "investigating",
            "admin",
            self.ago(minutes=15),
            external=True,
            next_in=timedelta(minutes=30),
        )
        self.item(
            api, "Roll back edge proxy to 2290", "kenji", self.ago(minutes=17), 0, kind="incident"
        )

        # Acknowledged: help centre slow.
        help_c = self.declare(
            "sofia",
            self.ago(minutes=12),
            self.ago(minutes=10),
            title="Help centre pages load slowly",
            severity_id=self.sev("SEV4"),
            priority_id=self.pri("P4"),
            services=["Help Centre"],
        )
        self.move(help_c, "acknowledged", "sofia", self.ago(minutes=8))

        # Triggered: nobody on it yet.
        self.declare(
            "admin",
            self.ago(minutes=2),
            self.ago(minutes=1),
            title="Checkout error rate above 2% in APAC",
            severity_id=self.sev("SEV2"),
            services=["Checkout"],
            type_id=self.itype("Service outage"),
            custom_fields={"detection_source": "Monitoring alert", "regions": ["APAC"]},
        )

        # A drill, and a restricted security incident.
        drill = self.declare(
            "priya",
            self.ago(days=2, hours=4),
            self.ago(days=2, hours=4),
            title="Game day: lose an availability zone",
            drill=True,
            severity_id=self.sev("SEV2"),
            services=["Public API"],
        )
        self.move(drill, "investigating", "priya", self.ago(days=2, hours=3, minutes=55))
        self.move(drill, "resolved", "priya", self.ago(days=2, hours=3))
        self.item(
            drill, "Make the deploy pipeline zone-aware", "mateo", self.ago(days=2, hours=3), 30
        )

        sec = self.declare(
            "arjun",
            self.ago(days=1, hours=5),
            self.ago(days=1, hours=4),
            title="Suspicious logins to the staff SSO from a new country",
            type_id=self.itype("Security incident"),
            services=["Single Sign-On"],
            custom_fields={
                "security_lead": self.p["arjun"].id,
                "attack_vector": "Credential stuffing",
                "data_exposed": False,
            },
        )
        self.move(sec, "investigating", "arjun", self.ago(days=1, hours=4))
        self.assign(sec, "incident_commander", "arjun", "arjun")
        self.note(
            sec,
            "Blocked the source ranges; forced password resets for 3 accounts.",
            "arjun",
            self.ago(days=1, hours=3),
            key=True,
        )
        self.move(sec, "monitoring", "arjun", self.ago(days=1, hours=2))
        self.item(
            sec, "Enforce hardware keys for staff SSO", "arjun", self.ago(days=1, hours=2), 10
        )
