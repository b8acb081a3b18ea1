"""The `workflows` section of the configuration file: references by name resolved at apply,
exported by name, export then apply changes nothing (even once a runbook it names is
deleted); an unknown name is refused with its path and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.catalog.models import Team, User
from tocsin.comms.models import CommsChannel
from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.runbooks import service as runbooks
from tocsin.runbooks.models import Runbook
from tocsin.schedules.models import Schedule
from tocsin.workflows.models import Workflow

FILE = """
users:
  - name: Ann Oncall
    email: ann@example.com
    role: responder
services:
  - name: Checkout
workflows:
  - name: Checkout SEV1
    trigger: declared
    conditions:
      severities: [SEV1]
      services: [Checkout]
    actions:
      - kind: add_runbook
        runbook: Incident commander checklist
      - kind: assign_role
        role: scribe
        user: ann@example.com
      - kind: page
        target: person
        user: ann@example.com
        urgency: low
      - kind: wait
        minutes: 10
      - kind: set_severity
        severity: SEV2
  - name: Quiet for an hour
    trigger: no_update
    trigger_minutes: 60
    enabled: false
    actions:
      - kind: create_action_item
        title: Post an update
"""


def _apply(db: Session, tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "tocsin.yaml"
    path.write_text(text)
    changes = apply_file(db, path)
    db.commit()
    return changes


def _workflow(db: Session, name: str) -> Workflow:
    db.expire_all()
    return db.scalars(select(Workflow).where(Workflow.name == name)).one()


def test_applied_by_name_exported_by_name_and_the_export_changes_nothing(
    db: Session, tmp_path: Path
) -> None:
    before = [w.position for w in db.scalars(select(Workflow))]  # the seeded ones
    changes = _apply(db, tmp_path, FILE)
    assert "create workflow 'Checkout SEV1'" in changes
    assert "create workflow 'Quiet for an hour'" in changes
    assert _apply(db, tmp_path, FILE) == []

    book = db.scalars(select(Runbook).where(Runbook.name == "Incident commander checklist")).one()
    ann = db.scalars(select(User).where(User.email == "ann@example.com")).one()
    stored = _workflow(db, "Checkout SEV1")
    assert stored.actions[0] == {"kind": "add_runbook", "runbook_id": book.id}
    assigned = {"kind": "assign_role", "role": "scribe", "user_id": ann.id, "schedule_id": None}
    assert stored.actions[1] == assigned
    assert stored.actions[2]["user_id"] == ann.id and stored.actions[2]["urgency"] == "low"
    assert stored.conditions["services"] == ["Checkout"]
    quiet = _workflow(db, "Quiet for an hour")
    assert (quiet.trigger_minutes, quiet.enabled) == (60, False)
    # New ones run after those already there (the seeded severity workflows).
    assert stored.position > max(before, default=0) and quiet.position > stored.position

    exported = yaml.safe_load(export_yaml(db))
    mine = next(w for w in exported["workflows"] if w["name"] == "Checkout SEV1")
    assert mine["conditions"] == {"severities": ["SEV1"], "services": ["Checkout"]}
    assert mine["actions"][0] == {"kind": "add_runbook", "runbook": book.name}
    assert mine["actions"][1] == {"kind": "assign_role", "role": "scribe", "user": ann.email}
    # The whole export, applied back: no change (the seeded workflows included).
    assert _apply(db, tmp_path, export_yaml(db)) == []

    # A runbook deleted since: exported by id, and that export still applies unchanged.
    runbooks.delete(db, book, by=None)
    db.commit()
    again = yaml.safe_load(export_yaml(db))
    mine = next(w for w in again["workflows"] if w["name"] == "Checkout SEV1")
    assert mine["actions"][0] == {"kind": "add_runbook", "runbook_id": book.id}
    assert _apply(db, tmp_path, export_yaml(db)) == []


def test_a_change_is_applied_and_listed(db: Session, tmp_path: Path) -> None:
    _apply(db, tmp_path, FILE)
    changed = FILE.replace("minutes: 10", "minutes: 20").replace("enabled: false", "enabled: true")
    assert _apply(db, tmp_path, changed) == [
        "update workflow 'Checkout SEV1': actions",
        "update workflow 'Quiet for an hour': enabled",
    ]
    assert _workflow(db, "Checkout SEV1").actions[3] == {"kind": "wait", "minutes": 20}
    # `position` left out keeps the order set elsewhere (the UI); given, it is applied.
    positioned = changed.replace(
        "  - name: Quiet for an hour\n", "  - name: Quiet for an hour\n    position: 5\n"
    )
    assert _apply(db, tmp_path, positioned) == ["update workflow 'Quiet for an hour': position"]
    assert _apply(db, tmp_path, changed) == []


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (
            "runbook: Incident commander checklist",
            "runbook: No such book",
            "workflows[0].actions[0].runbook: no runbook named 'No such book'",
        ),
        (
            "        user: ann@example.com\n      - kind: page",
            "        user: bob@example.com\n      - kind: page",
            "workflows[0].actions[1].user: no user with the email 'bob@example.com'",
        ),
        ("role: scribe", "role: jester", "workflows[0].actions[1].role: no role with the slug"),
        ("severity: SEV2", "severity: SEV9", "workflows[0].actions[4].severity: no severity"),
        ("services: [Checkout]", "services: [Basket]", "workflows[0].conditions.services: no"),
        ("target: person", "target: everyone", "workflows[0].actions[2].target"),
        ("trigger: declared", "trigger: tuesday", "workflows[0].trigger"),
        ("minutes: 10", "minutes: ten", "workflows[0].actions[3].minutes"),
        ("trigger_minutes: 60", "trigger_minutes: null", "workflows[1].trigger_minutes"),
    ],
)
def test_an_unknown_name_is_refused_with_its_path_and_nothing_is_written(
    db: Session, tmp_path: Path, before: str, after: str, message: str
) -> None:
    assert before in FILE
    with pytest.raises(ConfigError) as refused:
        _apply(db, tmp_path, FILE.replace(before, after))
    assert message in str(refused.value)
    db.rollback()
    names = set(db.scalars(select(Workflow.name)))
    assert "Checkout SEV1" not in names and "Quiet for an hour" not in names


def test_a_webhook_to_a_private_address_is_refused(db: Session, tmp_path: Path) -> None:
    inward = (
        "workflows:\n  - name: Inward\n    trigger: declared\n    actions:\n"
        "      - kind: call_webhook\n        url: http://10.0.0.1/hook\n"
    )
    with pytest.raises(ConfigError) as refused:
        _apply(db, tmp_path, inward)
    assert "not a public internet address" in str(refused.value)
    assert "workflows[0].actions[0].url" in str(refused.value)
    db.rollback()
    assert db.scalar(select(Workflow).where(Workflow.name == "Inward")) is None


def test_the_example_file_names_a_schedule_a_runbook_and_a_person(db: Session) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "tocsin.yaml"
    changes = apply_file(db, example)
    db.commit()
    assert "create workflow 'Checkout SEV1: runbook, scribe, page the primary'" in changes
    stored = _workflow(db, "Checkout SEV1: runbook, scribe, page the primary")
    schedule = db.scalars(select(Schedule).where(Schedule.name == "Payments primary")).one()
    assert stored.actions[2]["schedule_id"] == schedule.id
    assert apply_file(db, example) == []


CHANNEL_AND_TEAM = """
users:
  - name: Ann Oncall
    email: ann@example.com
    role: responder
teams:
  - name: Payments
    members: [ann@example.com]
comms_channels:
  - name: "#ops"
    kind: email
    target: ops@example.com
workflows:
  - name: Tell ops and page Payments
    trigger: declared
    actions:
      - kind: post_to_channel
        channel: "#ops"
        message: Declared
      - kind: post_to_channel
        message: To every internal channel
      - kind: notify_stakeholders
        message: Declared
      - kind: page
        target: team
        team: Payments
"""


def test_channels_and_teams_are_named_and_the_export_changes_nothing(
    db: Session, tmp_path: Path
) -> None:
    _apply(db, tmp_path, CHANNEL_AND_TEAM)
    stored = _workflow(db, "Tell ops and page Payments")
    channel = db.scalars(select(CommsChannel).where(CommsChannel.name == "#ops")).one()
    team = db.scalars(select(Team).where(Team.name == "Payments")).one()
    assert stored.actions[0] == {"kind": "post_to_channel", "channel_id": channel.id,
                                 "message": "Declared"}  # fmt: skip
    assert stored.actions[1]["channel_id"] is None
    assert stored.actions[3]["team_id"] == team.id
    exported = yaml.safe_load(export_yaml(db))
    mine = next(w for w in exported["workflows"] if w["name"] == "Tell ops and page Payments")
    assert mine["actions"][0] == {"kind": "post_to_channel", "channel": "#ops",
                                  "message": "Declared"}  # fmt: skip
    assert mine["actions"][3]["team"] == "Payments"
    assert _apply(db, tmp_path, export_yaml(db)) == []


def test_a_role_from_a_schedule_is_named_by_the_schedule(db: Session, tmp_path: Path) -> None:
    text = (
        "schedules:\n  - name: IC rotation\n    timezone: UTC\n"
        "workflows:\n  - name: Staff it\n    trigger: declared\n    actions:\n"
        "      - kind: assign_role\n        role: incident_commander\n"
        "        schedule: IC rotation\n"
    )
    assert _apply(db, tmp_path, text) == [
        "create schedule 'IC rotation'",
        "create workflow 'Staff it'",
    ]
    rotation = db.scalars(select(Schedule).where(Schedule.name == "IC rotation")).one()
    stored = _workflow(db, "Staff it").actions
    assert stored[0]["schedule_id"] == rotation.id and stored[0]["user_id"] is None
    exported = yaml.safe_load(export_yaml(db))["workflows"]
    assert {"kind": "assign_role", "role": "incident_commander", "schedule": "IC rotation"} in [
        a for w in exported for a in w["actions"]
    ]
    with pytest.raises(ConfigError) as unknown:
        _apply(db, tmp_path, text.replace("schedule: IC rotation", "schedule: Nope"))
    assert "workflows[0].actions[0].schedule: no schedule named 'Nope'" in str(unknown.value)
