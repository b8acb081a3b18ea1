"""Workflows run after the change commits: once per event, with a log of what each action
did, never in a loop, and skipping (never crashing on) what was deleted."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.workflows.conftest import (
    declare,
    enable_seeded,
    only_these,
    role_id,
    runs,
    severity,
    time_passes,
    user,
    work,
    workflow,
)
from tocsin.alerts.events import AlertOpened
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.comms import service as registry
from tocsin.comms.models import CommsDelivery
from tocsin.config import Settings
from tocsin.definitions import service as definitions
from tocsin.errors import ValidationFailed
from tocsin.escalation.models import EscalationRun
from tocsin.incidents import roles
from tocsin.incidents import service as incidents
from tocsin.incidents.events import UpdatePosted
from tocsin.incidents.updates import post_update
from tocsin.jobs.models import Job
from tocsin.notify import methods
from tocsin.notify.models import Notification
from tocsin.roster import service as roster
from tocsin.runbooks import service as runbooks
from tocsin.schedules import service as schedules
from tocsin.workflows import engine, perform, service
from tocsin.workflows.checks import workflow_findings


def test_a_sev1_declared_runs_the_seeded_workflow_once(
    db: Session, container: Container, admin: User
) -> None:
    ann, ben = user(db, "Ann"), user(db, "Ben")
    roster.set_entry(
        db, role_id(db, "incident_commander"), primary_user_id=ann.id, backup_user_id=ben.id
    )
    enable_seeded(db)
    incident = declare(db, admin, "SEV1")
    work(db, container)
    (run,) = runs(db, incident)
    assert run.workflow_name.startswith("SEV1")
    assert run.state == "done" and run.depth == 1
    assert run.outcomes == [
        "done: paged the IC: Ann, Ben",
        "done: attached runbook “Incident commander checklist”",
        "skipped: the incident has no stakeholders who may see it",
        "skipped: no internal channel of the registry reaches this incident",
        "done: action item “Post the first external update” created",
    ]
    assert len(incident.action_items) == 1
    assert db.scalar(
        select(func.count(EscalationRun.id)).where(EscalationRun.incident_id == incident.id)
    )
    # Nothing else is queued: running the jobs again adds no run.
    work(db, container)
    assert len(runs(db, incident)) == 1


def test_the_same_event_twice_runs_a_workflow_once(
    db: Session, container: Container, admin: User
) -> None:
    mine = workflow(
        db,
        "On update",
        "update_posted",
        [{"kind": "create_action_item", "title": "Check the update"}],
        conditions={"drill": "any"},
    )
    only_these(db, mine)
    incident = declare(db, admin)
    update = post_update(db, incident, phase="investigating", body="Looking", by=admin)
    again = UpdatePosted(incident.id, update.id, "investigating", "internal", admin.id)
    engine.on_event(db, again)
    engine.on_event(db, again)
    work(db, container)
    assert [r.workflow_name for r in runs(db, incident)] == ["On update"]
    assert [i.title for i in incident.action_items] == ["Check the update"]


def test_two_workflows_triggering_each_other_stop_at_the_depth_limit(
    db: Session, container: Container, admin: User
) -> None:
    up = workflow(
        db,
        "Two makes three",
        "severity_changed",
        [{"kind": "set_severity", "severity": "SEV3"}],
        conditions={"severities": ["SEV2"]},
    )
    down = workflow(
        db,
        "Three makes two",
        "severity_changed",
        [{"kind": "set_severity", "severity": "SEV2"}],
        conditions={"severities": ["SEV3"]},
    )
    only_these(db, up, down)
    incident = declare(db, admin, "SEV4")
    incidents.edit(db, incident, {"severity_id": severity(db, "SEV2")}, by=admin)
    work(db, container)
    log = [(r.workflow_name, r.depth, r.state) for r in runs(db, incident)]
    assert log == [
        ("Two makes three", 1, "done"),
        ("Three makes two", 2, "done"),
        ("Two makes three", 3, "done"),
        ("Three makes two", 4, "skipped"),
    ]
    assert runs(db, incident)[-1].reason == (
        "skipped: depth limit (3): triggered by a change that a chain of 3 workflow runs made"
    )
    assert incident.severity is not None and incident.severity.name == "SEV3"


def test_a_deleted_runbook_or_role_is_skipped_with_a_reason(
    db: Session, container: Container, admin: User
) -> None:
    book = runbooks.create(db, name="Old", body="- [ ] Step\n", by=admin)
    mine = workflow(
        db,
        "Stale",
        "declared",
        [
            {"kind": "add_runbook", "runbook_id": book.id},
            {"kind": "assign_role", "role": "ghost_writer", "user_id": admin.id},
            {"kind": "create_action_item", "title": "Still done"},
        ],
    )
    only_these(db, mine)
    runbooks.delete(db, book, by=admin)
    incident = declare(db, admin)
    work(db, container)
    (run,) = runs(db, incident)
    assert run.state == "done"
    assert run.outcomes == [
        f"skipped: runbook {book.id} was deleted",
        "skipped: role 'ghost_writer' was deleted",
        "done: action item “Still done” created",
    ]


def test_a_failing_action_is_undone_and_the_rest_still_run(
    db: Session, container: Container, admin: User
) -> None:
    mine = workflow(
        db,
        "Page a stranger",
        "resolved",
        [
            {"kind": "page", "target": "person", "user_id": admin.id},
            {"kind": "create_action_item", "title": "After"},
        ],
    )
    only_these(db, mine)
    incident = declare(db, admin)
    incidents.resolve(db, incident, by=admin)  # paging a resolved incident is skipped
    work(db, container)
    (run,) = runs(db, incident)
    assert run.outcomes[0] == "skipped: the incident is resolved"
    assert run.outcomes[1] == "done: action item “After” created"


def test_a_run_for_an_incident_that_ended_before_it_started_is_skipped(
    db: Session, container: Container, admin: User
) -> None:
    """Declared and resolved in one change (a backfilled incident): nothing is paged or told
    for its declaration, and the run says why; its own resolved trigger still runs."""
    declared = workflow(
        db, "On declare", "declared", [{"kind": "create_action_item", "title": "Too late"}]
    )
    ended = workflow(
        db, "On resolve", "resolved", [{"kind": "create_action_item", "title": "Review it"}]
    )
    only_these(db, declared, ended)
    incident = declare(db, admin)
    incidents.resolve(db, incident, by=admin)
    work(db, container)
    done = {r.workflow_name: (r.state, r.reason) for r in runs(db, incident)}
    assert done["On declare"] == (
        "skipped",
        "skipped: the incident was resolved before the workflow ran",
    )
    assert done["On resolve"][0] == "done"
    assert [i.title for i in incident.action_items] == ["Review it"]


def test_no_update_for_n_minutes_fires_once_the_time_has_passed(
    db: Session, container: Container, admin: User
) -> None:
    mine = workflow(
        db,
        "Nudge",
        "no_update",
        [{"kind": "create_action_item", "title": "Post an update"}],
        trigger_minutes=30,
    )
    only_these(db, mine)
    incident = declare(db, admin)
    work(db, container)
    assert runs(db, incident) == []  # not yet: the timer is 30 minutes away
    timer = db.scalars(select(Job).where(Job.kind == "workflows.timer")).one()
    assert timer.payload["incident_id"] == incident.id
    time_passes(db, container)
    (run,) = runs(db, incident)
    assert run.trigger == "no_update"
    assert run.outcomes == ["done: action item “Post an update” created"]


def test_no_acknowledgement_timer_does_nothing_once_acknowledged(
    db: Session, container: Container, admin: User
) -> None:
    mine = workflow(
        db,
        "Escalate",
        "no_acknowledgement",
        [{"kind": "create_action_item", "title": "Nobody took it"}],
        trigger_minutes=5,
    )
    only_these(db, mine)
    quiet = declare(db, admin, title="Nobody answers")
    taken = declare(db, admin, title="Taken")
    incidents.acknowledge(db, taken, by=admin)
    time_passes(db, container)
    assert [r.workflow_name for r in runs(db, quiet)] == ["Escalate"]
    assert runs(db, taken) == []


def test_wait_runs_the_rest_later(db: Session, container: Container, admin: User) -> None:
    mine = workflow(
        db,
        "Later",
        "declared",
        [
            {"kind": "create_action_item", "title": "Now"},
            {"kind": "wait", "minutes": 10},
            {"kind": "create_action_item", "title": "Ten minutes on"},
        ],
    )
    only_these(db, mine)
    incident = declare(db, admin)
    work(db, container)
    (run,) = runs(db, incident)
    assert run.state == "waiting"
    assert run.outcomes == ["done: action item “Now” created", "waiting: 10 minutes"]
    time_passes(db, container, kind="workflows.run")
    db.refresh(run)
    assert run.state == "done"
    assert run.outcomes[-1] == "done: action item “Ten minutes on” created"


def test_tocsin_check_flags_a_workflow_referring_to_a_deleted_runbook(
    db: Session, admin: User
) -> None:
    book = runbooks.create(db, name="Old", body="- [ ] Step\n", by=admin)
    workflow(db, "Stale", "declared", [{"kind": "add_runbook", "runbook_id": book.id}])
    assert workflow_findings(db) == []
    runbooks.delete(db, book, by=admin)
    (finding,) = workflow_findings(db)
    assert finding.severity == "warning" and finding.subject == "Stale"
    assert finding.message.endswith(f"action 1 (add_runbook): runbook {book.id} was deleted")


def test_an_internal_update_waits_for_the_acknowledgement(
    db: Session, container: Container, admin: User
) -> None:
    note = [{"kind": "post_internal_update", "body": "We are on it."}]
    declared = workflow(db, "Say so", "declared", note)
    acked = workflow(db, "Say so once staffed", "role_assigned", note)
    only_these(db, declared, acked)
    incident = declare(db, admin)
    work(db, container)
    (run,) = runs(db, incident)
    assert run.outcomes == [
        "skipped: the incident is not acknowledged yet (an update would stop its paging)"
    ]
    assert incident.status == "triggered"
    incidents.acknowledge(db, incident, by=admin)
    roles.assign_role(db, incident, role_id=role_id(db, "scribe"), user_id=admin.id, by=admin)
    work(db, container)
    by_name = {r.workflow_name: r for r in runs(db, incident)}
    assert by_name["Say so once staffed"].outcomes == ["done: posted an internal update"]
    assert [u.body for u in incident.updates] == ["We are on it."]


def test_each_alert_attached_runs_once(db: Session, container: Container, admin: User) -> None:
    mine = workflow(
        db, "Alert", "alert_attached", [{"kind": "create_action_item", "title": "Look"}]
    )
    only_these(db, mine)
    incident = declare(db, admin)
    for alert_id in (1, 2, 2):
        engine.on_event(
            db, AlertOpened(alert_id, 1, 1, incident.id, f"k{alert_id}", "critical", "x", True)
        )
    work(db, container)
    assert [r.event_key for r in runs(db, incident)] == ["alert:1", "alert:2"]


def test_an_unexpected_error_fails_the_run_with_a_reason_and_the_rest_still_run(
    db: Session, container: Container, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = runbooks.create(db, name="Checklist", body="- [ ] Step\n", by=admin)
    mine = workflow(
        db,
        "Buggy",
        "declared",
        [
            {"kind": "add_runbook", "runbook_id": book.id},
            {"kind": "create_action_item", "title": "After the bug"},
        ],
    )
    only_these(db, mine)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(perform.runbooks, "attach", broken)  # a bug in the runbooks domain
    incident = declare(db, admin)
    work(db, container)
    (run,) = runs(db, incident)
    assert run.state == "failed"
    assert run.reason == "1 action(s) failed (action 1)"
    assert run.outcomes == [
        f"failed: add runbook {book.id}: unexpected error (a bug: the log has the traceback)",
        "done: action item “After the bug” created",
    ]
    # The job itself succeeded: nothing is retried (which would run the actions again).
    (job,) = db.scalars(select(Job).where(Job.kind == "workflows.run"))
    assert job.state == "done" and job.attempts == 1


def test_a_deleted_channel_or_team_is_skipped_at_run_time_and_flagged_by_check(
    db: Session, container: Container, admin: User
) -> None:
    channel, _ = registry.create_channel(
        db, {"name": "#ops", "kind": "email", "target": "ops@example.com"}
    )
    team = catalog.create_team(db, name="Payments", member_ids=[admin.id])
    mine = workflow(
        db,
        "Tell ops",
        "declared",
        [
            {"kind": "post_to_channel", "channel_id": channel.id, "message": "Declared"},
            {"kind": "page", "target": "team", "team_id": team.id},
            {"kind": "create_action_item", "title": "Still done"},
        ],
    )
    only_these(db, mine)
    assert workflow_findings(db) == []
    registry.delete_channel(db, channel)
    catalog.delete_team(db, team)
    messages = [f.message for f in workflow_findings(db)]
    assert messages == [
        f"workflow “Tell ops”: action 1 (post_to_channel): channel {channel.id} was deleted",
        f"workflow “Tell ops”: action 2 (page): team {team.id} was deleted",
    ]
    incident = declare(db, admin)
    work(db, container)
    (run,) = runs(db, incident)
    assert run.state == "done"
    assert run.outcomes == [
        f"skipped: channel {channel.id} was deleted",
        f"skipped: team {team.id} was deleted",
        "done: action item “Still done” created",
    ]


def test_post_to_a_channel_is_a_message_that_moves_no_status(
    db: Session, container: Container, admin: User
) -> None:
    channel, _ = registry.create_channel(
        db, {"name": "#ops", "kind": "email", "target": "ops@example.com"}
    )
    paused, _ = registry.create_channel(
        db, {"name": "#paused", "kind": "email", "target": "p@example.com", "paused": True}
    )
    mine = workflow(
        db,
        "Tell ops",
        "declared",
        [
            {"kind": "post_to_channel", "channel_id": channel.id, "message": "Declared <b>"},
            {"kind": "post_to_channel", "channel_id": paused.id, "message": "Declared"},
        ],
    )
    only_these(db, mine)
    incident = declare(db, admin)
    work(db, container)
    (run,) = runs(db, incident)
    assert run.outcomes == [
        "done: posted to #ops",
        "skipped: #paused: not sent: sending is paused",
    ]
    assert incident.status == "triggered" and not incident.updates
    rows = db.scalars(select(CommsDelivery).where(CommsDelivery.incident_id == incident.id))
    assert sorted((d.recipient, d.purpose, d.body) for d in rows) == [
        ("#ops", "message", "Declared <b>"),
        ("#paused", "message", "Declared"),
    ]


def test_a_webhook_url_reaching_a_private_address_is_refused_when_saved(
    api: TestClient, db: Session, settings: Settings
) -> None:
    assert not settings.outbound_allow_private
    body = {
        "name": "Private",
        "trigger": "declared",
        "actions": [
            {"kind": "create_action_item", "title": "x"},
            {"kind": "call_webhook", "url": "http://127.0.0.1:9/hook"},
        ],
    }
    answer = api.post("/api/v1/workflows", json=body)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "actions[1].url" and "127.0.0.1" in error["message"]
    assert [w["name"] for w in api.get("/api/v1/workflows").json()["items"]] == [
        w.name for w in service.list_workflows(db)
    ]
    assert "Private" not in [w.name for w in service.list_workflows(db)]
    # A bad address is refused too, naming the field.
    body["actions"] = [{"kind": "send_email", "to": "not an address", "subject": "s"}]
    answer = api.post("/api/v1/workflows", json=body)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "actions[0].to"


def test_tocsin_check_flags_conditions_naming_a_service_or_team_that_no_longer_exists(
    db: Session, admin: User
) -> None:
    checkout = catalog.create_service(db, name="Checkout")
    team = catalog.create_team(db, name="Payments")
    workflow(
        db,
        "Checkout SEV1",
        "declared",
        [{"kind": "create_action_item", "title": "x"}],
        conditions={"services": ["Checkout"], "teams": ["Payments"], "severities": ["SEV1"]},
    )
    assert workflow_findings(db) == []
    catalog.update_service(db, checkout, {"name": "Checkout v2"})
    catalog.delete_team(db, team)
    assert [f.message for f in workflow_findings(db)] == [
        "workflow “Checkout SEV1”: its conditions name service 'Checkout', which does not exist",
        "workflow “Checkout SEV1”: its conditions name team 'Payments', which does not exist",
    ]


def test_a_deleted_role_or_schedule_is_flagged_by_check_and_skipped_at_run_time(
    db: Session, container: Container, admin: User
) -> None:
    rotation = schedules.create_schedule(db, name="Rotation", timezone="UTC")
    scribe = role_id(db, "scribe")
    mine = workflow(
        db,
        "Staff it",
        "declared",
        [
            {"kind": "assign_role", "role": "scribe", "user_id": admin.id},
            {"kind": "page", "target": "schedule", "schedule_id": rotation.id},
            {"kind": "create_action_item", "title": "Still done"},
        ],
    )
    only_these(db, mine)
    assert workflow_findings(db) == []
    definitions.delete_role(db, scribe)
    schedules.delete_schedule(db, rotation)
    assert [f.message for f in workflow_findings(db)] == [
        "workflow “Staff it”: action 1 (assign_role): role 'scribe' was deleted",
        f"workflow “Staff it”: action 2 (page): schedule {rotation.id} was deleted",
    ]
    incident = declare(db, admin)
    work(db, container)
    (run,) = runs(db, incident)
    assert run.state == "done"
    assert run.outcomes == [
        "skipped: role 'scribe' was deleted",
        f"skipped: schedule {rotation.id} was deleted",
        "done: action item “Still done” created",
    ]


@pytest.mark.parametrize("urgency", ["high", "low"])
def test_a_page_follows_the_actions_urgency(
    db: Session, container: Container, admin: User, urgency: str
) -> None:
    """A person with a rule for each urgency, each through its own address, is paged
    through the rule of the action's urgency, whatever the incident's."""
    ann = user(db, "Ann")
    email, _ = methods.create_contact_method(
        db, ann, by=admin, kind="email", target="ann@example.com"
    )
    sms, _ = methods.create_contact_method(
        db, ann, by=admin, kind="email", target="ann.quiet@example.com"
    )
    methods.create_rule(db, ann, by=admin, urgency="high", contact_method_id=email.id)
    methods.create_rule(db, ann, by=admin, urgency="low", contact_method_id=sms.id)
    mine = workflow(
        db,
        "Page Ann",
        "declared",
        [{"kind": "page", "target": "person", "user_id": ann.id, "urgency": urgency}],
    )
    only_these(db, mine)
    incident = declare(db, admin, urgency="high" if urgency == "low" else "low")
    work(db, container)
    assert runs(db, incident)[0].outcomes == ["done: paged Ann"]
    # The first notification planned (with no mail server here, a failed email falls back to
    # Ann's other address afterwards).
    first = db.scalars(
        select(Notification).where(Notification.user_id == ann.id).order_by(Notification.id)
    ).first()
    assert first is not None
    assert first.contact_method_id == (email.id if urgency == "high" else sms.id)


def test_a_role_is_given_to_whoever_is_on_call_in_a_schedule(
    db: Session, container: Container, admin: User
) -> None:
    ann, ben = user(db, "Ann"), user(db, "Ben")
    rotation = schedules.create_schedule(db, name="IC rotation", timezone="UTC")
    layer = {"name": "Weekly", "timezone": "UTC", "start_date": "2026-06-01"}
    schedules.add_layer(db, rotation, {**layer, "member_ids": [ann.id]})
    empty = schedules.create_schedule(db, name="Nobody yet", timezone="UTC")
    mine = workflow(
        db,
        "Staff from rotations",
        "declared",
        [
            {"kind": "assign_role", "role": "incident_commander", "schedule_id": rotation.id},
            {"kind": "assign_role", "role": "scribe", "schedule_id": empty.id},
        ],
    )
    only_these(db, mine)
    db.commit()
    with pytest.raises(ValidationFailed) as both:
        action = {"kind": "assign_role", "role": "scribe", "user_id": ben.id}
        service.edit(db, mine, {"actions": [{**action, "schedule_id": rotation.id}]}, guard=None)
    assert both.value.field == "actions[0].schedule_id"
    db.rollback()
    incident = declare(db, admin)
    work(db, container)
    (run,) = runs(db, incident)
    assert run.outcomes == [
        "done: Incident Commander given to Ann (on call in the schedule)",
        f"skipped: nobody is on call in schedule {empty.id}",
    ]
    holders = [(a.role.slug, a.user.name) for a in incident.role_assignments]
    assert ("incident_commander", "Ann") in holders
    assert not [h for h in holders if h[0] == "scribe"]
