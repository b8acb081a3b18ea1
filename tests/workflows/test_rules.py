"""What a workflow accepts (actions and conditions, with errors naming where), which incidents
meet its conditions, and the dry run, which writes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.workflows.conftest import declare, enable_seeded, only_these, severity, workflow
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.errors import ValidationFailed
from tocsin.incidents.models import TimelineEntry
from tocsin.jobs.models import Job
from tocsin.runbooks.models import Runbook
from tocsin.simulation.service import simulate
from tocsin.simulation.workflows import workflows_that_would_run
from tocsin.workflows import service
from tocsin.workflows.defaults import DECLARED
from tocsin.workflows.dryrun import would_run
from tocsin.workflows.models import Workflow, WorkflowRun
from tocsin.workflows.triggers import Conditions, mismatch


def test_bad_actions_are_refused_naming_the_action_and_field(db: Session) -> None:
    cases = [
        ([{"kind": "wait", "minutes": 0}], "actions[0].minutes"),
        ([{"kind": "page", "target": "ic"}, {"kind": "page", "target": "person"}],
         "actions[1].user_id"),
        ([{"kind": "add_runbook"}], "actions[0].runbook_id"),
        ([{"kind": "launch_rocket"}], "actions[0]"),
        ([{"kind": "set_severity", "severity": "SEV1", "extra": 1}], "actions[0].extra"),
    ]  # fmt: skip
    for actions, field in cases:
        with pytest.raises(ValidationFailed) as caught:
            service.create(db, name="Bad", trigger="declared", actions=actions, by=None, guard=None)
        assert caught.value.field == field, actions
        assert str(caught.value).startswith(field)
    with pytest.raises(ValidationFailed) as caught:
        service.create(db, name="Bad", trigger="no_update", actions=[], by=None, guard=None)
    assert caught.value.field == "trigger_minutes"
    with pytest.raises(ValidationFailed) as caught:
        service.create(db, name="Bad", trigger="whenever", actions=[], by=None, guard=None)
    assert caught.value.field == "trigger"
    with pytest.raises(ValidationFailed) as caught:
        service.create(
            db,
            name="Bad",
            trigger="declared",
            actions=[],
            conditions={"drill": "maybe"},
            by=None,
            guard=None,
        )
    assert caught.value.field == "conditions.drill"


def test_conditions_match_type_severity_services_teams_fields_and_flags(
    db: Session, admin: User
) -> None:
    team = catalog.create_team(db, name="Payments")
    checkout = catalog.create_service(db, name="Checkout", team_id=team.id)
    incident = declare(db, admin, "SEV2", service_ids=[checkout.id])
    assert mismatch(incident, Conditions()) is None
    assert mismatch(incident, Conditions(severities=["SEV1", "SEV2"])) is None
    assert mismatch(incident, Conditions(severities=["SEV1"])) == "severity is not SEV1"
    assert mismatch(incident, Conditions(services=["Checkout"])) is None
    assert mismatch(incident, Conditions(services=["Search"])) == "no service among Search"
    assert mismatch(incident, Conditions(teams=["Payments"])) is None
    assert mismatch(incident, Conditions(teams=["Search"])) == "no service of team Search"
    assert mismatch(incident, Conditions(types=["Security incident"])) is not None
    assert mismatch(incident, Conditions(fields={"region": "eu"})) == "field 'region' is not 'eu'"
    assert mismatch(incident, Conditions(drill="yes")) == "it is not a drill"
    assert mismatch(incident, Conditions(restricted="no")) is None
    drill = declare(db, admin, "SEV2", drill=True)
    assert mismatch(drill, Conditions()) == "it is a drill"  # drills are left out by default
    assert mismatch(drill, Conditions(drill="any")) is None


def _counts(db: Session) -> tuple[int, ...]:
    return tuple(
        db.scalar(select(func.count()).select_from(model))  # type: ignore[misc]
        for model in (WorkflowRun, Job, TimelineEntry, Workflow)
    )


def _ic_checklist(db: Session) -> int:
    name = "Incident commander checklist"
    return db.scalars(select(Runbook.id).where(Runbook.name == name)).one()


def test_the_dry_run_describes_and_writes_nothing(db: Session, admin: User) -> None:
    enable_seeded(db)
    incident = declare(db, admin, "SEV1")
    stale = workflow(db, "Stale", "declared", [{"kind": "add_runbook", "runbook_id": 999999}])
    db.commit()
    before = _counts(db)
    previews = would_run(db, incident, "declared")
    assert [p.name for p in previews] == [
        "SEV1: page the IC, tell stakeholders, prompt the external update",
        "Stale",
    ]
    declared = DECLARED[:80]
    assert previews[0].actions == (
        "page the IC from the roster (primary and backup), high urgency",
        f"add runbook {_ic_checklist(db)} (runbook: Incident commander checklist)",
        f"notify the stakeholders: {declared}",
        f"post to the incident's internal channels: {declared}",
        "create the action item “Post the first external update”",
    )
    assert previews[1].actions == (
        "add runbook 999999 (would be skipped: runbook 999999 was deleted)",
    )
    assert would_run(db, incident, "resolved") == []
    assert not db.new and not db.dirty and not db.deleted
    db.commit()
    assert _counts(db) == before
    only_these(db, stale)
    assert [w.name for w in workflows_that_would_run(db, incident)] == ["Stale"]
    db.rollback()


def test_the_paging_simulation_lists_the_seeded_workflow(db: Session, admin: User) -> None:
    catalog.create_service(db, name="Checkout")
    enable_seeded(db)
    db.commit()
    before = _counts(db)
    sim = simulate(db, service="Checkout", severity="SEV1", at=utcnow())
    assert [w.name for w in sim.workflows] == [
        "SEV1: page the IC, tell stakeholders, prompt the external update"
    ]
    assert _counts(db) == before
    assert severity(db, "SEV1")


def test_ids_out_of_range_are_refused(db: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.create(
            db,
            name="Huge",
            trigger="declared",
            actions=[{"kind": "add_runbook", "runbook_id": 10**20}],
            by=None,
            guard=None,
        )
    assert caught.value.field == "actions[0].runbook_id"
