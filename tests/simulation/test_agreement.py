"""`tocsin simulate` agrees with what real paging then does for the same incident."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.escalation.conftest import Org, recipients, time_passes, work
from tests.notify.conftest import SmtpServer
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.escalation import engine, policies
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.notify import methods
from tocsin.notify.service import contact_methods, notifications_for
from tocsin.schedules import service as schedules
from tocsin.schedules.oncall import on_call
from tocsin.simulation.service import Simulation, simulate

# (level, people paged) in order, and (person, method, delay) of every delivery.
Paging = tuple[list[tuple[int, list[int]]], set[tuple[int, str, int]]]


def _severity(db: Session, name: str) -> Severity:
    found = db.scalar(select(Severity).where(Severity.name == name))
    assert found is not None
    return found


def _declare(db: Session, org: Org, severity: str = "SEV2") -> Incident:
    incident = incidents.declare(
        db,
        by=None,
        title="Checkout is down",
        service_ids=[org.service.id],
        severity_id=_severity(db, severity).id,
    )
    db.commit()
    return incident


def _simulated(sim: Simulation) -> Paging:
    """(level, people paged) in order, and (person, method, delay) of every delivery."""
    (run,) = sim.runs
    levels = [(lvl.level, sorted(p.user_id for p in lvl.people)) for lvl in run.levels]
    deliveries = {
        (p.user_id, d.method, d.delay_minutes)
        for lvl in run.levels
        for p in lvl.people
        for d in p.deliveries
    }
    return levels, deliveries


def _real(
    db: Session, incident: Incident
) -> tuple[list[tuple[int, list[int]]], set[tuple[int, str, int]]]:
    db.expire_all()
    (run,) = engine.runs_for(db, incident.id)
    levels = [(s.level + 1, sorted(s.paged_user_ids)) for s in run.steps]
    deliveries = {
        (n.user_id, n.method_label, round((n.planned_at - n.created_at).total_seconds() / 60))
        for n in notifications_for(db, incident.id)
    }
    return levels, deliveries


def test_simulate_agrees_with_real_paging_levels_people_methods_and_delays(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, org: Org
) -> None:
    """A rotation with an override on top, two levels, a person with two rules at different
    delays and people without rules (every method at once): the dry run names the same
    people at the same levels through the same methods after the same delays."""
    (shift,) = on_call(db, org.primary.id, utcnow())
    rotating = org.ann if shift.user_id == org.ann.id else org.bob
    covering = org.bob if rotating is org.ann else org.ann
    now = utcnow()
    schedules.add_override(
        db, org.primary, user_id=covering.id, start=now - timedelta(hours=1),
        end=now + timedelta(hours=3),
    )  # fmt: skip
    # The covering person: their work email at once, a second address after 3 minutes.
    (work_mail,) = contact_methods(db, covering)
    pager, _ = methods.create_contact_method(
        db, covering, by=covering, settings=settings, kind="email",
        target=f"{covering.name.lower()}.pager@example.com", label="Pager mail",
    )  # fmt: skip
    methods.create_rule(db, covering, by=covering, urgency="high", contact_method_id=work_mail.id)
    methods.create_rule(
        db, covering, by=covering, urgency="high", contact_method_id=pager.id, delay_minutes=3
    )
    db.commit()

    sim = simulate(db, service="Checkout", severity="SEV2", at=utcnow())
    assert sim.urgency == "high" and not sim.nobody
    (run,) = sim.runs
    assert [lvl.outcome for lvl in run.levels] == ["paged", "paged"]
    assert run.levels[0].people[0].name == covering.name
    assert "override covering" in run.levels[0].people[0].why
    assert [(d.method, d.delay_minutes) for d in run.levels[0].people[0].deliveries] == [
        (work_mail.label, 0),
        ("Pager mail", 3),
    ]
    assert "all contact methods at once" in run.levels[1].people[0].note  # Carol: no rules
    assert run.levels[1].at - run.levels[0].at == timedelta(minutes=5)
    assert "nobody acknowledged after 1 time(s)" in run.end

    incident = _declare(db, org)
    work(db, container)
    time_passes(db, container)  # nobody acknowledged within level 1's five minutes
    time_passes(db, container)  # nor within level 2's ten: the policy is done
    assert _real(db, incident) == _simulated(sim)
    (real_run,) = engine.runs_for(db, incident.id)
    assert real_run.state == "exhausted" and real_run.ended_reason in run.end
    assert recipients(smtp)[0] == covering.email


def test_nobody_on_call_the_dry_run_says_so_as_real_paging_does(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    empty = schedules.create_schedule(db, name="Empty", timezone="UTC")
    policy = policies.create_policy(
        db,
        name="Nobody",
        levels=[{"delay_minutes": 5, "targets": [{"kind": "schedule", "id": empty.id}]}],
    )
    policies.set_service_paging(db, org.service, policy_id=policy.id)
    db.commit()

    sim = simulate(db, service="checkout", at=utcnow())
    assert sim.nobody
    (run,) = sim.runs
    (level,) = run.levels
    assert level.outcome == "nobody" and not level.people
    assert "nobody is on call in schedule \u201cEmpty\u201d" in level.text
    assert sim.summary.startswith("Nobody would be paged")
    assert "no level reached anybody" in sim.summary

    incident = _declare(db, org)
    work(db, container)
    db.expire_all()
    (real,) = engine.runs_for(db, incident.id)
    assert [s.outcome for s in real.steps] == [level.text]  # the very same words
    assert real.state == "exhausted" and real.ended_reason == "no level reached anybody"
    assert smtp.messages == []


def test_a_service_without_a_policy_pages_nobody_in_both(db: Session, org: Org) -> None:
    policies.set_service_paging(db, org.service, policy_id=None)
    db.commit()
    sim = simulate(db, service="Checkout", at=utcnow())
    assert sim.nobody and sim.runs == [] and sim.without_policy == ["Checkout"]
    assert sim.summary == "Nobody would be paged: \u201cCheckout\u201d has no escalation policy"


def test_round_robin_the_dry_run_names_whose_turn_it_is_and_leaves_the_turn_alone(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    """Whose turn it is, read and not taken: asking twice names the same person, the real
    incident then pages that person, and the next dry run names the next one."""
    team = catalog.create_team(db, name="Rota", member_ids=[org.ann.id, org.bob.id, org.carol.id])
    policies.update_policy(
        db,
        org.policy,
        {"repeat": 1, "levels": [{"round_robin": True, "delay_minutes": 5,
                                  "targets": [{"kind": "team", "id": team.id}]}]},
    )  # fmt: skip
    db.commit()
    first = simulate(db, service="Checkout", at=utcnow())
    assert not db.dirty and not db.new
    again = simulate(db, service="Checkout", at=utcnow())
    (run,) = first.runs
    # The repeat takes the next turn, as the real run would.
    assert [lvl.people[0].name for lvl in run.levels] == ["Ann", "Bob"]
    assert [lvl.people[0].name for lvl in again.runs[0].levels] == ["Ann", "Bob"]

    _declare(db, org)
    work(db, container)
    assert recipients(smtp) == ["ann@example.com"]
    db.expire_all()  # the test's session keeps what it loaded (no expiry on commit)
    after = simulate(db, service="Checkout", at=utcnow())
    assert after.runs[0].levels[0].people[0].name == "Bob"
