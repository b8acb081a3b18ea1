"""Writing runbooks, versions, and attaching them: by hand and when an incident is declared."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.runbooks.conftest import BODY, incident, incident_type, runbook, timeline_kinds
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.errors import Conflict, NotFound, ValidationFailed
from tocsin.runbooks import defaults, progress, service
from tocsin.runbooks.models import IncidentRunbook, Runbook, RunbookVersion


def test_defaults_are_seeded_with_security_attaching_itself(db: Session) -> None:
    by_name = {r.name: r for r in service.list_runbooks(db)}
    security = by_name["Security incident checklist"]
    assert security.auto_attach and security.incident_type is not None
    assert security.incident_type.name == "Security incident"
    ic = by_name["Incident commander checklist"]
    assert not ic.auto_attach and ic.incident_type is None
    steps = service.current(ic).steps
    assert any("strong objections" in s["text"] for s in steps)
    assert {s["role"] for s in steps} <= {"incident_commander", "scribe"}
    # Seeded once: a second call (every `tocsin db upgrade`) adds nothing.
    assert defaults.ensure_default_runbooks(db) is False


def test_every_edit_of_the_text_is_a_new_version(db: Session, admin: User) -> None:
    book = runbook(db, admin)
    assert book.current_version == 1
    service.edit(db, book, by=admin, body=BODY + "- [ ] Tell support\n")
    service.edit(db, book, by=admin, name="Checkout outage")
    service.edit(db, book, by=admin, auto_attach=True)  # not the text: no version
    assert book.current_version == 3
    assert [(v.number, v.title, len(v.steps)) for v in book.versions] == [
        (1, "Checkout", 3),
        (2, "Checkout", 4),
        (3, "Checkout outage", 4),
    ]
    assert service.get_version(db, book, 1).body == BODY.strip("\n")


def test_an_incident_keeps_the_version_it_started_with(db: Session, admin: User) -> None:
    book = runbook(db, admin)
    inc = incident(db, admin)
    attached = service.attach(db, inc, book, by=admin)
    service.edit(db, book, by=admin, body="- [ ] Something else entirely\n")
    db.commit()
    db.expire_all()
    (held,) = progress.attachments(db, inc)
    assert held.id == attached.id and held.version.number == 1
    assert [s.text for s in progress.progress(held)][0] == "Introduce yourself"
    # Attaching again changes nothing: it keeps version 1.
    assert service.attach(db, inc, book, by=admin).version.number == 1
    assert len(timeline_kinds(db, inc, "runbook")) == 1
    # A new incident gets the new version.
    later = incident(db, admin, "Later")
    assert service.attach(db, later, book, by=admin).version.number == 2


def test_attach_by_hand_is_on_the_timeline(db: Session, admin: User) -> None:
    book = runbook(db, admin)
    inc = incident(db, admin)
    service.attach(db, inc, book, by=admin)
    assert timeline_kinds(db, inc, "runbook") == [
        "Runbook “Checkout” (version 1) attached by Ada Admin"
    ]


def test_declaring_a_security_incident_attaches_its_checklist(db: Session, admin: User) -> None:
    security = incident_type(db, "Security incident")
    inc = incident(
        db,
        admin,
        "Leaked key",
        type_id=security.id,
        custom_fields={"security_lead": admin.id},
    )
    (held,) = progress.attachments(db, inc)
    assert held.version.title == "Security incident checklist"
    assert timeline_kinds(db, inc, "runbook") == [
        "Runbook “Security incident checklist” (version 1) attached automatically"
    ]
    # Another type gets nothing.
    outage = incident(db, admin, "Down", type_id=incident_type(db, "Service outage").id)
    assert progress.attachments(db, outage) == []


def test_scoped_by_service_and_type(db: Session, admin: User) -> None:
    checkout = catalog.create_service(db, name="Checkout")
    search = catalog.create_service(db, name="Search")
    outage = incident_type(db, "Service outage")
    runbook(db, admin, "Any outage of checkout", service_ids=[checkout.id], auto_attach=True)
    runbook(
        db,
        admin,
        "Checkout, outages only",
        service_ids=[checkout.id],
        incident_type_id=outage.id,
        auto_attach=True,
    )
    runbook(db, admin, "Not automatic", service_ids=[checkout.id])
    names = lambda inc: sorted(a.version.title for a in progress.attachments(db, inc))  # noqa: E731
    assert names(incident(db, admin, "a", service_ids=[checkout.id])) == ["Any outage of checkout"]
    both = incident(db, admin, "b", service_ids=[search.id, checkout.id], type_id=outage.id)
    assert names(both) == ["Any outage of checkout", "Checkout, outages only"]
    assert names(incident(db, admin, "c", service_ids=[search.id])) == []


def test_unknown_role_is_refused_and_nothing_written(db: Session, admin: User) -> None:
    before = db.scalar(select(func.count(RunbookVersion.id)))
    with pytest.raises(ValidationFailed, match="'wizard', which does not exist"):
        runbook(db, admin, body="- [ ] Cast a spell (role: wizard)\n")
    book = runbook(db, admin)
    with pytest.raises(ValidationFailed, match="wizard"):
        service.edit(db, book, by=admin, body="- [ ] Cast (role: wizard)\n")
    assert book.current_version == 1
    assert db.scalar(select(func.count(RunbookVersion.id))) == before + 1


def test_oversized_and_stepless_runbooks_are_refused(db: Session, admin: User) -> None:
    with pytest.raises(ValidationFailed, match="too long"):
        runbook(db, admin, body="- [ ] x\n" + "a" * service.BODY_MAX)
    with pytest.raises(ValidationFailed, match="no steps"):
        runbook(db, admin, body="Just prose.")
    many = "".join(f"- [ ] step {n}\n" for n in range(service.STEPS_MAX + 1))
    with pytest.raises(ValidationFailed, match="at most 200"):
        runbook(db, admin, body=many)
    with pytest.raises(Conflict):
        runbook(db, admin, "Incident commander checklist")
    assert db.scalar(select(func.count(Runbook.id))) == 2  # the defaults only


def test_deleted_runbook_cannot_be_attached_but_incidents_keep_it(db: Session, admin: User) -> None:
    book = runbook(db, admin)
    inc = incident(db, admin)
    service.attach(db, inc, book, by=admin)
    service.delete(db, book, by=admin)
    with pytest.raises(NotFound):
        service.get_runbook(db, book.id)
    with pytest.raises(NotFound, match="deleted"):
        service.attach(db, incident(db, admin, "Other"), book, by=admin)
    assert [a.version.title for a in progress.attachments(db, inc)] == ["Checkout"]
    assert db.scalar(select(func.count(IncidentRunbook.id))) == 1
    assert "Checkout" not in [r.name for r in service.list_runbooks(db)]
    runbook(db, admin)  # the name is free again
