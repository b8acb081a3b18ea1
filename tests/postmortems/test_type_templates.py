"""Postmortem templates per incident type: a postmortem starts from its type's template and
keeps it; the REST routes read, replace and reset a template and refuse bad ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as
from tests.postmortems.conftest import incident_of, resolve_at
from tocsin.catalog.models import User
from tocsin.db import utcnow
from tocsin.definitions import service as defs
from tocsin.definitions.models import IncidentType
from tocsin.errors import NotFound, ValidationFailed
from tocsin.postmortems import service, type_templates
from tocsin.postmortems.schemas import SectionKind
from tocsin.postmortems.template import KINDS, SECTIONS

SECURITY_TEMPLATE: list[dict[str, Any]] = [
    {"key": "summary", "title": "Summary", "kind": "overview", "guidance": "In *two* lines."},
    {
        "key": "exposure",
        "title": "Data exposed",
        "guidance": "Which records, whose, for how long.",
        "text": "| Data | Records |\n| --- | --- |\n| ? | ? |",
    },
    {"key": "timeline", "title": "What we saw, when", "kind": "timeline"},
    {"key": "disclosure", "title": "Disclosure", "kind": "external_message"},
]


def _security(db: Session) -> IncidentType:
    return defs.create_incident_type(db, {"name": "Security breach"})


def test_the_api_kinds_are_the_templates_kinds() -> None:
    assert list(get_args(SectionKind)) == list(KINDS)


def test_a_sev1_of_a_type_with_its_own_template_gets_those_sections_and_keeps_them(
    db: Session, admin: User
) -> None:
    security = _security(db)
    type_templates.set_template(db, security.id, SECURITY_TEMPLATE, by=admin)
    started = utcnow() - timedelta(hours=2)
    incident = incident_of(db, admin, "SEV1", started=started, commander=admin, type_id=security.id)
    resolve_at(db, incident, admin, started + timedelta(hours=1))

    postmortem = service.for_incident(db, incident)
    assert postmortem is not None
    assert [(s.key, s.title, s.kind) for s in postmortem.sections] == [
        ("summary", "Summary", "overview"),
        ("exposure", "Data exposed", "markdown"),
        ("timeline", "What we saw, when", "timeline"),
        ("disclosure", "Disclosure", "external_message"),
    ]
    summary, exposure, timeline, _ = postmortem.sections
    assert summary.body.startswith(f"{incident.reference} (") and "a SEV1 incident" in summary.body
    assert summary.guidance == "In *two* lines."
    assert exposure.body.startswith("| Data | Records |")
    assert timeline.body.startswith("| Time (UTC) | Event | Data link |")

    # Changing the template afterwards leaves the postmortem as it started.
    type_templates.set_template(
        db, security.id, [{"key": "only", "title": "Only section"}], by=admin
    )
    db.commit()
    db.expire_all()
    again = service.for_incident(db, incident)
    assert again is not None
    assert [s.key for s in again.sections] == ["summary", "exposure", "timeline", "disclosure"]
    assert again.sections[0].guidance == "In *two* lines."
    # A later incident of the type gets the new template.
    later = incident_of(db, admin, "SEV3", type_id=security.id)
    assert [s.key for s in service.start(db, later, by=admin).sections] == ["only"]


def test_other_types_and_untyped_incidents_get_pagerdutys_template(
    db: Session, admin: User
) -> None:
    type_templates.set_template(db, _security(db).id, SECURITY_TEMPLATE, by=admin)
    other = defs.create_incident_type(db, {"name": "Capacity"})
    for type_id in (other.id, None):
        incident = incident_of(db, admin, "SEV3", type_id=type_id)
        postmortem = service.start(db, incident, by=admin)
        assert [s.key for s in postmortem.sections] == [s.key for s in SECTIONS]
        assert postmortem.sections[0].guidance == SECTIONS[0].guidance


def test_resetting_goes_back_to_pagerdutys_template(db: Session, admin: User) -> None:
    security = _security(db)
    type_templates.set_template(db, security.id, SECURITY_TEMPLATE, by=admin)
    type_templates.reset_template(db, security.id)
    assert type_templates.template_of(db, security.id) is None
    assert type_templates.specs_for(db, security.id) == SECTIONS
    with pytest.raises(NotFound):
        type_templates.template_of(db, 999_999)


@pytest.mark.parametrize(
    ("sections", "field", "message"),
    [
        ([], "sections", "at least one section"),
        ([{"key": "a", "title": "A"}] * 41, "sections", "at most 40 sections"),
        (
            [{"key": "a", "title": "A"}, {"key": "a", "title": "B"}],
            "sections[1].key",
            "'a' is already the key of sections[0]",
        ),
        ([{"key": "a", "title": "  "}], "sections[0].title", "cannot be empty"),
        ([{"key": "Bad key", "title": "A"}], "sections[0].key", "lowercase letters"),
        ([{"key": "a", "title": "A", "kind": "chart"}], "sections[0].kind", "one of markdown"),
        ([{"key": "a", "title": "A", "kind": ["x"]}], "sections[0].kind", "one of markdown"),
        ([{"key": "a", "title": "A", "text": "x" * 20_001}], "sections[0].text", "at most"),
        ([{"key": "a", "title": "A", "guidance": "x" * 2_001}], "sections[0].guidance", "2,000"),
        ([{"key": "a", "title": "A", "colour": "red"}], "sections[0]", "unknown field(s)"),
        ("summary", "sections", "must be a list"),
    ],
)
def test_bad_templates_are_refused_with_the_field(
    db: Session, admin: User, sections: Any, field: str, message: str
) -> None:
    security = _security(db)
    with pytest.raises(ValidationFailed) as refused:
        type_templates.set_template(db, security.id, sections, by=admin)
    assert refused.value.field == field and message in refused.value.message
    assert type_templates.template_of(db, security.id) is None


# --- REST ---------------------------------------------------------------------------------


def test_get_put_and_reset_through_the_api(api: TestClient, db: Session, admin: User) -> None:
    security = _security(db)
    db.commit()
    url = f"/api/v1/incident-types/{security.id}/postmortem-template"
    default = api.get(url)
    assert default.status_code == 200, default.text
    assert default.json()["custom"] is False and default.json()["updated_at"] is None
    assert [s["key"] for s in default.json()["sections"]] == [s.key for s in SECTIONS]
    assert default.json()["sections"][4] == {
        "key": "impact",
        "title": "Impact",
        "kind": "impact",
        "guidance": SECTIONS[4].guidance,
        "text": "",
    }

    put = api.put(url, json={"sections": SECURITY_TEMPLATE})
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["custom"] is True and body["incident_type"] == "Security breach"
    assert [s["key"] for s in body["sections"]] == ["summary", "exposure", "timeline", "disclosure"]
    assert body["sections"][1]["kind"] == "markdown"
    assert api.get(url).json() == body

    reset = api.delete(url)
    assert reset.status_code == 200 and reset.json()["custom"] is False
    assert api.get(url).json()["custom"] is False


@pytest.mark.parametrize(
    ("sections", "field"),
    [
        ([], "sections"),
        ([{"key": "a", "title": "A"}, {"key": "a", "title": "B"}], "sections[1].key"),
        ([{"key": "a", "title": ""}], "sections.0.title"),
        ([{"key": "a", "title": " "}], "sections.0.title"),
        ([{"key": "a", "title": "A", "kind": "pie"}], "sections.0.kind"),
        ([{"key": "a", "title": "A", "text": "x" * 20_001}], "sections.0.text"),
        ([{"key": "a", "title": "A"}] * 41, "sections"),
    ],
)
def test_bad_templates_answer_422_and_change_nothing(
    api: TestClient, db: Session, sections: list[dict[str, Any]], field: str
) -> None:
    security = _security(db)
    db.commit()
    url = f"/api/v1/incident-types/{security.id}/postmortem-template"
    refused = api.put(url, json={"sections": sections})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == field
    assert api.get(url).json()["custom"] is False


def test_only_admins_change_templates_and_unknown_types_are_404(
    client: TestClient, db: Session, responder: User
) -> None:
    security = _security(db)
    db.commit()
    headers = api_as(client, db, responder)
    url = f"/api/v1/incident-types/{security.id}/postmortem-template"
    assert client.get(url, headers=headers).status_code == 200
    assert client.put(url, json={"sections": SECURITY_TEMPLATE}, headers=headers).status_code == 403
    assert client.delete(url, headers=headers).status_code == 403
    missing = "/api/v1/incident-types/999999/postmortem-template"
    assert client.get(missing, headers=headers).status_code == 404


def test_deleting_a_type_deletes_its_template(db: Session, admin: User) -> None:
    security = _security(db)
    type_templates.set_template(db, security.id, SECURITY_TEMPLATE, by=admin)
    db.commit()
    defs.delete_incident_type(db, security.id)
    db.commit()
    assert type_templates.all_templates(db) == []
