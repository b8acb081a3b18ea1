"""Walking escalation policies: who is paged, when, why, and what stops it."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.escalation.conftest import Org, person, recipients, time_passes, work
from tests.notify.conftest import SmtpServer
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.definitions.models import Severity
from tocsin.escalation import engine, policies
from tocsin.escalation.models import EscalationRun
from tocsin.escalation.record import paging_record
from tocsin.incidents import queries
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.schedules import service as schedules
from tocsin.schedules.oncall import on_call


def _declare(db: Session, org: Org, *, urgency: str = "high", by: User | None = None) -> Incident:
    incident = incidents.declare(
        db, by=by, title="Checkout is down", service_ids=[org.service.id], urgency=urgency
    )
    db.commit()
    return incident


def _on_call(db: Session, org: Org) -> User:
    (shift,) = on_call(db, org.primary.id, utcnow())
    return org.ann if shift.user_id == org.ann.id else org.bob


def _timeline(db: Session, incident: Incident) -> list[str]:
    db.expire_all()
    return [e.summary for e in queries.timeline(db, incident)]


def _link(message: object, action: str) -> str:
    body = message.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    match = re.search(rf"{action}: http://tocsin\.test(/act/\S+)", body)
    assert match, body
    return match.group(1)


def test_the_person_on_call_is_paged_then_the_next_level_and_the_record_says_why(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    incident = _declare(db, org)
    first = _on_call(db, org)
    work(db, container)
    assert recipients(smtp) == [first.email]
    body = smtp.messages[0].get_body(("plain",)).get_content()
    assert "on call in schedule \u201cPrimary\u201d" in body

    record = paging_record(db, incident)
    (run,) = record.runs
    assert run.state == "active" and run.steps[0].level == 1
    assert run.steps[0].decisions[0]["users"][0]["name"] == first.name
    assert [n.user for n in record.notifications] == [first.name]
    assert record.notifications[0].state == "sent"

    time_passes(db, container)  # nobody acknowledged within 5 minutes
    assert recipients(smtp) == [first.email, org.carol.email]
    time_passes(db, container)  # nor within the last level's 10: the policy is done
    db.expire_all()
    (run_row,) = engine.runs_for(db, incident.id)
    assert run_row.state == "exhausted"
    assert any("Paging ended" in line for line in _timeline(db, incident))
    assert len(smtp.messages) == 2  # nobody was paged twice


def test_the_page_says_when_the_persons_time_on_call_ends_not_their_shift(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    """The person on call today also covers tomorrow morning by an override: "until" is the
    end of that override, not of today's shift, and an override's page names whom it
    covers."""
    first = _on_call(db, org)
    other = org.bob if first is org.ann else org.ann
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = midnight + timedelta(days=1)
    after = tomorrow + timedelta(hours=12)
    schedules.add_override(db, org.primary, user_id=first.id, start=tomorrow, end=after)
    db.commit()
    _declare(db, org)
    work(db, container)
    body = smtp.messages[0].get_body(("plain",)).get_content()
    assert f'(layer "Daily") until {after:%Y-%m-%d %H:%M} UTC' in body, body
    assert f"until {tomorrow:%Y-%m-%d %H:%M} UTC" not in body

    # Now an override of the whole of today puts the other person on call instead.
    schedules.add_override(db, org.primary, user_id=other.id, start=utcnow(), end=tomorrow)
    db.commit()
    _declare(db, org)
    work(db, container)
    body = smtp.messages[-1].get_body(("plain",)).get_content()
    assert smtp.mailbox.recipients[-1] == [other.email]
    assert f"(override covering {first.name}) until {tomorrow:%Y-%m-%d %H:%M} UTC" in body, body


def test_acknowledging_from_the_email_link_stops_escalation(
    db: Session, client: TestClient, container: Container, smtp: SmtpServer, org: Org
) -> None:
    incident = _declare(db, org)
    work(db, container)
    link = _link(smtp.messages[0], "Acknowledge")
    assert client.post(link).status_code == 200
    time_passes(db, container)
    assert len(smtp.messages) == 1  # Carol was not paged
    db.expire_all()
    (run,) = engine.runs_for(db, incident.id)
    assert engine.effective_state(run)[0] == "acknowledged"
    assert db.get(Incident, incident.id).status == "acknowledged"  # type: ignore[union-attr]


def test_resolving_stops_everything(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    incident = _declare(db, org)
    work(db, container)
    incidents.resolve(db, db.get(Incident, incident.id), by=org.carol)  # type: ignore[arg-type]
    time_passes(db, container)
    assert len(smtp.messages) == 1
    db.expire_all()
    assert engine.runs_for(db, incident.id)[0].state == "resolved"


def test_a_level_that_reaches_nobody_is_skipped_at_once_and_recorded(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, org: Org
) -> None:
    from tocsin.schedules import service as schedules

    empty = schedules.create_schedule(db, name="Nobody yet")
    policies.update_policy(
        db,
        org.policy,
        {
            "levels": [
                {"delay_minutes": 5, "targets": [{"kind": "schedule", "id": empty.id}]},
                {"delay_minutes": 5, "targets": [{"kind": "user", "id": org.carol.id}]},
            ]
        },
    )
    db.commit()
    incident = _declare(db, org)
    work(db, container)
    assert recipients(smtp) == [org.carol.email]  # straight to level 2, no waiting
    (run,) = paging_record(db, incident).runs
    assert "reached nobody" in run.steps[0].outcome
    assert "nobody is on call in schedule" in run.steps[0].outcome
    assert any("Level 1 reached nobody" in line for line in _timeline(db, incident))


def test_a_level_outside_its_window_is_skipped(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    now = utcnow()
    other_days = [d for d in range(7) if d not in (now.weekday(), (now.weekday() - 1) % 7)]
    policies.update_policy(
        db,
        org.policy,
        {
            "levels": [
                {
                    "targets": [{"kind": "user", "id": org.ann.id}],
                    "window": {"days": other_days, "start": "00:00", "end": "23:59"},
                },
                {"targets": [{"kind": "user", "id": org.carol.id}]},
            ]
        },
    )
    db.commit()
    incident = _declare(db, org)
    work(db, container)
    assert recipients(smtp) == [org.carol.email]
    (run,) = paging_record(db, incident).runs
    assert "skipped: it pages only" in run.steps[0].outcome


def test_round_robin_takes_turns_between_incidents(
    db: Session, container: Container, settings: Settings, smtp: SmtpServer, org: Org
) -> None:
    team = catalog.create_team(db, name="Rota", member_ids=[org.ann.id, org.bob.id, org.carol.id])
    policies.update_policy(
        db,
        org.policy,
        {"levels": [{"round_robin": True, "targets": [{"kind": "team", "id": team.id}]}]},
    )
    db.commit()
    for _ in range(4):
        _declare(db, org)
        work(db, container)
    # Members in name order, one per incident, wrapping around.
    assert recipients(smtp) == [
        "ann@example.com",
        "bob@example.com",
        "carol@example.com",
        "ann@example.com",
    ]


def test_the_policy_repeats_when_nobody_acknowledges(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    policies.update_policy(
        db,
        org.policy,
        {"repeat": 1, "levels": [{"targets": [{"kind": "user", "id": org.carol.id}]}]},
    )
    db.commit()
    incident = _declare(db, org)
    work(db, container)
    time_passes(db, container)
    time_passes(db, container)
    assert recipients(smtp) == [org.carol.email, org.carol.email]
    assert any("repeats (time 2 of 2)" in line for line in _timeline(db, incident))
    db.expire_all()
    assert engine.runs_for(db, incident.id)[0].state == "exhausted"


def test_low_urgency_notifies_the_first_level_without_escalating(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    incident = _declare(db, org, urgency="low")
    work(db, container)
    time_passes(db, container)
    assert len(smtp.messages) == 1
    db.expire_all()
    assert engine.runs_for(db, incident.id)[0].state == "finished"


def test_a_sev4_declared_by_hand_is_low_urgency_and_notifies_without_escalating(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    """The severity's default urgency reaches escalation: the first level is notified (by
    their low-urgency rules), nobody further (docs/escalation.md, low urgency "notify")."""
    sev4 = db.scalars(select(Severity).where(Severity.name == "SEV4")).one()
    incident = incidents.declare(
        db, by=org.carol, title="Typo on the help page", service_ids=[org.service.id],
        severity_id=sev4.id,
    )  # fmt: skip
    db.commit()
    work(db, container)
    time_passes(db, container)
    assert recipients(smtp) == [_on_call(db, org).email]
    assert "low urgency" in smtp.messages[0]["Subject"]
    db.expire_all()
    (run,) = engine.runs_for(db, incident.id)
    assert run.state == "finished" and "low urgency" in run.reason


def test_declared_without_paging_starts_no_run_until_someone_escalates(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    incident = _declare(db, org, urgency="none")
    work(db, container)
    time_passes(db, container)
    assert smtp.messages == [] and engine.runs_for(db, incident.id) == []
    assert any(line.startswith("Declared without paging") for line in _timeline(db, incident))
    # The job that starts paging, had it run anyway, starts nothing either.
    assert engine.start_for_incident(db, incident.id) == []
    db.rollback()
    # Paging by hand still works, at the incident's urgency.
    current = db.get(Incident, incident.id)
    assert current is not None
    engine.escalate(db, current, level=2, by=org.ann)
    work(db, container)
    assert recipients(smtp) == [org.carol.email]
    assert "high urgency" in smtp.messages[0]["Subject"]


def test_low_urgency_outside_support_hours_waits_for_them(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    now = utcnow()
    tomorrow = (now.weekday() + 1) % 7
    policies.set_service_paging(
        db,
        org.service,
        policy_id=org.policy.id,
        low_urgency="support_hours",
        support_hours={"days": [tomorrow], "start": "09:00", "end": "17:00", "timezone": "UTC"},
    )
    db.commit()
    incident = _declare(db, org, urgency="low")
    work(db, container)
    assert smtp.messages == []
    db.expire_all()
    (run,) = engine.runs_for(db, incident.id)
    assert run.state == "waiting"
    expected = (now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    assert run.next_at == expected
    time_passes(db, container)  # support hours began
    assert len(smtp.messages) == 1


def test_no_policy_means_the_timeline_says_nobody_was_paged(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    bare = catalog.create_service(db, name="Bare")
    incident = incidents.declare(db, by=None, title="x", service_ids=[bare.id])
    db.commit()
    work(db, container)
    assert smtp.messages == []
    assert any("it has no escalation policy" in line for line in _timeline(db, incident))


def test_an_incident_acknowledged_before_paging_starts_is_never_paged(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    """Declared and acknowledged in one go with backdated times (as `tocsin demo` and
    backfilled incidents are): the acknowledgement predates the run, yet nobody is paged,
    then or when the levels' waits are over."""
    started = utcnow() - timedelta(hours=3)
    incident = incidents.declare(
        db, by=org.carol, title="Search slow", service_ids=[org.service.id],
        started_at=started, detected_at=started + timedelta(minutes=5),
    )  # fmt: skip
    incidents.change_status(
        db, incident, "acknowledged", by=org.carol, occurred_at=started + timedelta(minutes=10)
    )
    incidents.change_status(db, incident, "monitoring", by=org.carol)
    db.commit()
    work(db, container)
    time_passes(db, container)
    time_passes(db, container)
    assert smtp.messages == [] and engine.runs_for(db, incident.id) == []
    assert any(
        line == "Nobody was paged: INC-1 was already monitoring when paging was to start"
        for line in _timeline(db, incident)
    )


def test_a_backdated_acknowledgement_still_stops_escalation(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    """Acknowledged after level 1 was paged, with a time before the run began: level 2
    (Carol) is never paged."""
    incident = _declare(db, org)
    work(db, container)
    assert len(smtp.messages) == 1
    current = db.get(Incident, incident.id)
    assert current is not None
    incidents.change_status(
        db, current, "acknowledged", by=org.ann, occurred_at=utcnow() - timedelta(hours=1)
    )
    db.commit()
    time_passes(db, container)
    time_passes(db, container)
    assert org.carol.email not in recipients(smtp) and len(smtp.messages) == 1
    db.expire_all()
    (run,) = engine.runs_for(db, incident.id)
    assert run.state == "acknowledged"


def test_paging_someone_into_an_acknowledged_incident_and_their_acknowledgement(
    db: Session,
    client: TestClient,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    org: Org,
) -> None:
    incident = _declare(db, org)
    work(db, container)
    engine.acknowledge_pages(db, db.get(Incident, incident.id), by=org.ann)  # type: ignore[arg-type]
    db.commit()
    dave = person(db, settings, "Dave")
    engine.page_people(
        db,
        db.get(Incident, incident.id),
        by=org.ann,
        user_ids=[dave.id],
        message="need the DBA",  # type: ignore[arg-type]
    )
    db.commit()
    work(db, container)
    assert recipients(smtp)[-1] == dave.email  # sent although the incident is acknowledged
    assert "need the DBA" in smtp.messages[-1].get_body(("plain",)).get_content()
    # Dave's own link acknowledges his page.
    assert client.post(_link(smtp.messages[-1], "Acknowledge")).status_code == 200
    db.expire_all()
    manual = engine.runs_for(db, incident.id)[-1]
    assert manual.label == "Paged by Ann" and manual.state == "acknowledged"


def test_escalating_by_hand_supersedes_and_pages_the_chosen_level(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    incident = _declare(db, org)
    work(db, container)
    engine.escalate(db, db.get(Incident, incident.id), level=2, by=org.ann)  # type: ignore[arg-type]
    db.commit()
    work(db, container)
    assert recipients(smtp)[-1] == org.carol.email
    time_passes(db, container)  # the first run's timer is stale now: nobody else is paged
    db.expire_all()
    runs = engine.runs_for(db, incident.id)
    assert [r.state for r in runs] == ["superseded", "exhausted"]
    assert len(smtp.messages) == 2


def test_reassigning_pages_one_person_and_stops_the_policy(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    incident = _declare(db, org)
    work(db, container)
    engine.reassign(db, db.get(Incident, incident.id), user_id=org.carol.id, by=org.ann)  # type: ignore[arg-type]
    db.commit()
    work(db, container)
    time_passes(db, container)
    assert recipients(smtp)[1:] == [org.carol.email]
    db.expire_all()
    assert engine.runs_for(db, incident.id)[0].state == "superseded"


def test_a_step_runs_once_even_if_its_job_runs_twice(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    incident = _declare(db, org)
    work(db, container)
    db.expire_all()
    (run,) = db.scalars(select(EscalationRun).where(EscalationRun.incident_id == incident.id))
    # A worker that died after the step committed has its job run again: nothing new happens.
    engine.run_step(db, run.id, 0, 0)
    db.commit()
    work(db, container)
    assert len(smtp.messages) == 1


def test_a_rolled_back_declaration_pages_nobody(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    incidents.declare(db, by=None, title="never", service_ids=[org.service.id])
    db.rollback()
    work(db, container)
    assert smtp.messages == []


def test_a_deactivated_person_on_call_is_recorded_and_skipped(
    db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    first = _on_call(db, org)
    catalog.update_user(db, first, {"active": False})
    db.commit()
    incident = _declare(db, org)
    work(db, container)
    assert recipients(smtp) == [org.carol.email]
    (run,) = paging_record(db, incident).runs
    assert "deactivated" in run.steps[0].outcome


def test_an_alert_pages_the_person_on_call_once_and_the_link_acknowledges(
    db: Session, client: TestClient, container: Container, smtp: SmtpServer, org: Org
) -> None:
    from tests.conftest import settle
    from tocsin.alerts import service as alerts

    _, key = alerts.create_integration(db, service_id=org.service.id, name="prometheus")
    db.commit()
    first = _on_call(db, org)
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "disk-full",
        "payload": {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"},
    }
    assert client.post("/v2/enqueue", json=body).status_code == 202
    settle(container)  # the event is applied: an alert, an incident
    work(db, container)  # paging starts; the email goes out
    assert recipients(smtp) == [first.email]
    assert "Disk full on db-1" in smtp.messages[0]["Subject"]
    # A repeat of the alert pages nobody again.
    assert client.post("/v2/enqueue", json=body).status_code == 202
    settle(container)
    work(db, container)
    assert len(smtp.messages) == 1
    assert client.post(_link(smtp.messages[0], "Acknowledge")).status_code == 200
    time_passes(db, container)
    assert len(smtp.messages) == 1
