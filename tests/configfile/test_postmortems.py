"""The `postmortem_policies` and `postmortem_templates` sections of the configuration file:
planned, applied once, exported, and refused with the path when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.configfile import ConfigError, apply_file, export_yaml
from tocsin.definitions.models import IncidentType, Severity
from tocsin.postmortems import policies, type_templates
from tocsin.postmortems.template import SECTIONS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tocsin.yaml"

FILE = """
incident_types:
  - name: Security breach
postmortem_policies:
  - severity: SEV3
    required: true
    meeting_within: 10
    meeting_unit: calendar_days
    draft_hours_before: 48
postmortem_templates:
  - incident_type: Security breach
    sections:
      - {key: summary, title: Summary, kind: overview, guidance: In two lines.}
      - key: exposure
        title: Data exposed
        text: Which records, whose, for how long.
      - {key: timeline, title: Timeline, kind: timeline}
"""


def _write(tmp_path: Path, text: str, name: str = "tocsin.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _apply(db: Session, path: Path) -> list[str]:
    changes = apply_file(db, path)
    db.commit()
    return changes


def _type_id(db: Session, name: str) -> int:
    return db.scalars(select(IncidentType.id).where(IncidentType.name == name)).one()


def _sev(db: Session, name: str) -> Severity:
    return db.scalars(select(Severity).where(Severity.name == name)).one()


def test_policies_and_templates_apply_once(db: Session, tmp_path: Path) -> None:
    path = _write(tmp_path, FILE)
    # The plan (as `--dry-run` shows it) changes nothing once rolled back.
    planned = apply_file(db, path)
    db.rollback()
    assert planned == [
        "create incident type 'Security breach'",
        "update postmortem policy 'SEV3': required: False → True, meeting_within: 5 → 10, "
        "meeting_unit: 'business_days' → 'calendar_days', draft_hours_before: 24 → 48",
        "create postmortem template of 'Security breach' (3 sections)",
    ]
    assert (
        db.scalars(select(IncidentType).where(IncidentType.name == "Security breach")).all() == []
    )

    assert _apply(db, path) == planned
    assert _apply(db, path) == [], "applying again changes nothing"
    policy = policies.policy_for(db, _sev(db, "SEV3").id)
    assert policy is not None and (policy.required, policy.meeting_within) == (True, 10)
    assert policy.meeting_unit == "calendar_days" and policy.draft_hours_before == 48
    specs = type_templates.specs_for(db, _type_id(db, "Security breach"))
    assert [(s.key, s.kind) for s in specs] == [
        ("summary", "overview"),
        ("exposure", "markdown"),
        ("timeline", "timeline"),
    ]
    assert specs[1].text == "Which records, whose, for how long."


def test_template_changes_are_planned_section_by_section(db: Session, tmp_path: Path) -> None:
    _apply(db, _write(tmp_path, FILE))
    doc = yaml.safe_load(FILE)
    sections = doc["postmortem_templates"][0]["sections"]
    sections[0]["title"] = "In short"
    sections[0]["guidance"] = "One line."
    del sections[1]
    sections.insert(0, {"key": "customers", "title": "Customers told"})
    sections.reverse()
    changed = _write(tmp_path, yaml.safe_dump(doc), "changed.yaml")
    assert _apply(db, changed) == [
        "update postmortem template of 'Security breach': add section 'customers'; "
        "remove section 'exposure'; section 'summary': title, guidance; "
        "order: timeline, summary, customers"
    ]
    specs = type_templates.specs_for(db, _type_id(db, "Security breach"))
    assert [s.key for s in specs] == ["timeline", "summary", "customers"]
    assert _apply(db, changed) == []


def test_export_writes_both_sections_and_applies_as_a_no_op(db: Session, tmp_path: Path) -> None:
    _apply(db, _write(tmp_path, FILE))
    exported = export_yaml(db)
    doc = yaml.safe_load(exported)
    assert [p["severity"] for p in doc["postmortem_policies"]] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert doc["postmortem_templates"][0]["incident_type"] == "Security breach"
    assert doc["postmortem_templates"][0]["sections"][0] == {
        "key": "summary",
        "title": "Summary",
        "kind": "overview",
        "guidance": "In two lines.",
        "text": "",
    }
    assert _apply(db, _write(tmp_path, exported, "exported.yaml")) == []


def test_the_example_sets_a_policy_and_a_template(db: Session) -> None:
    changes = _apply(db, EXAMPLE)
    assert "create postmortem template of 'Payment failure' (4 sections)" in changes
    policy = policies.policy_for(db, _sev(db, "SEV2").id)
    assert policy is not None and policy.meeting_within == 4
    assert _apply(db, EXAMPLE) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "postmortem_policies:\n  - severity: SEV9\n    required: true\n",
            "bad.yaml: postmortem_policies[0].severity: no severity named 'SEV9'",
        ),
        (
            "postmortem_policies:\n  - severity: SEV1\n    meeting_within: 400\n",
            "bad.yaml: postmortem_policies[0].meeting_within:",
        ),
        (
            "postmortem_policies:\n  - severity: SEV1\n    meeting_unit: fortnights\n",
            "bad.yaml: postmortem_policies[0].meeting_unit:",
        ),
        (
            "postmortem_policies:\n  - severity: SEV1\n  - severity: sev1\n",
            "bad.yaml: postmortem_policies[1].severity: 'sev1' is already defined",
        ),
        (
            "postmortem_templates:\n  - incident_type: Nope\n    sections:\n"
            "      - {key: a, title: A}\n",
            "bad.yaml: postmortem_templates[0].incident_type: no incident type named 'Nope'",
        ),
        (
            "postmortem_templates:\n  - incident_type: Early\n    sections:\n"
            "      - {key: a, title: A}\n      - {key: a, title: B}\n",
            "bad.yaml: postmortem_templates[0].sections[1].key: 'a' is already the key of "
            "sections[0]",
        ),
        (
            "postmortem_templates:\n  - incident_type: Early\n    sections:\n"
            "      - {key: a, title: ' '}\n",
            "bad.yaml: postmortem_templates[0].sections[0].title: title cannot be empty",
        ),
        (
            "postmortem_templates:\n  - incident_type: Early\n    sections:\n"
            "      - {key: a, title: A, kind: chart}\n",
            "bad.yaml: postmortem_templates[0].sections[0].kind: kind must be one of markdown",
        ),
        (
            "postmortem_templates:\n  - incident_type: Early\n    sections: []\n",
            "bad.yaml: postmortem_templates[0].sections: a template needs at least one section",
        ),
        (
            "postmortem_templates:\n  - incident_type: Early\n    sections:\n"
            "      - {key: a, title: A, colour: red}\n",
            "bad.yaml: postmortem_templates[0].sections[0].colour: Extra inputs are not permitted",
        ),
        (
            "postmortem_templates:\n  - incident_type: Early\n",
            "bad.yaml: postmortem_templates[0].sections: Field required",
        ),
    ],
)
def test_bad_sections_name_the_path_and_change_nothing(
    db: Session, tmp_path: Path, content: str, message: str
) -> None:
    bad = _write(tmp_path, "incident_types:\n  - name: Early\n" + content, "bad.yaml")
    with pytest.raises(ConfigError) as error:
        apply_file(db, bad)
    db.rollback()
    assert message in str(error.value)
    assert db.scalars(select(IncidentType).where(IncidentType.name == "Early")).first() is None
    assert policies.policy_for(db, _sev(db, "SEV1").id).meeting_within == 3  # type: ignore[union-attr]


def test_a_type_left_out_of_the_file_keeps_its_template(db: Session, tmp_path: Path) -> None:
    _apply(db, _write(tmp_path, FILE))
    assert _apply(db, _write(tmp_path, "incident_types:\n  - name: Other\n", "b.yaml")) == [
        "create incident type 'Other'"
    ]
    assert type_templates.specs_for(db, _type_id(db, "Security breach")) != SECTIONS
