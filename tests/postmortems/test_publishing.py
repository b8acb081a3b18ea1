"""Publishing a reviewed postmortem: the incident's stakeholders emailed through a real SMTP
server after commit, nothing sent on a rollback, and a restricted incident's postmortem still
hidden from people not involved."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import api_as
from tests.notify.conftest import SmtpServer, settings, smtp  # noqa: F401  (the fixtures)
from tests.postmortems.conftest import incident_of
from tests.postmortems.test_reminders import work
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User
from tocsin.comms import stakeholders
from tocsin.incidents import members
from tocsin.incidents import queries as incident_queries
from tocsin.postmortems import publishing, review, service
from tocsin.postmortems.models import Postmortem


def _reviewed(db: Session, by: User, reviewer: User, **incident: object) -> Postmortem:
    """A postmortem approved by `reviewer` and marked Reviewed, with an overview written."""
    postmortem = service.start(db, incident_of(db, by, "SEV2", **incident), by=by)
    overview = postmortem.section("overview")
    assert overview is not None
    service.save_section(db, postmortem, "overview", "Checkout failed for 20 minutes.",
                         overview.version, by=by)  # fmt: skip
    service.change_status(db, postmortem, "in_review", by=by)
    review.add_reviewer(db, postmortem, reviewer.id, by=by)
    review.give_verdict(db, postmortem, "approved", "", by=reviewer)
    service.change_status(db, postmortem, "reviewed", by=by)
    db.commit()
    return postmortem


def test_publishing_emails_the_stakeholders(
    api: TestClient,
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    sam = catalog.create_user(db, name="Sam Stakeholder", email="sam@example.com", role="viewer")
    postmortem = _reviewed(db, admin, responder)
    stakeholders.add(db, postmortem.incident, by=admin, user_id=sam.id)
    db.commit()
    work(db, container)
    smtp.mailbox.messages.clear()  # the review request

    draft = service.start(db, incident_of(db, admin, "SEV3"), by=admin)
    db.commit()
    early = api.post(f"/api/v1/postmortems/{draft.id}/publish")
    assert early.status_code == 409 and "only a reviewed postmortem" in early.text

    published = api.post(f"/api/v1/postmortems/{postmortem.id}/publish")
    assert published.status_code == 200, published.text
    assert published.json()["published_at"] is not None
    again = api.post(f"/api/v1/postmortems/{postmortem.id}/publish")
    assert again.status_code == 409 and "already published" in again.text

    work(db, container)
    assert [m["To"] for m in smtp.messages] == ["Sam Stakeholder <sam@example.com>"]
    mail = smtp.messages[0]
    reference = postmortem.incident.reference
    assert mail["Subject"] == f"[Tocsin] {reference}: postmortem published: Checkout failing (SEV2)"
    body = mail.get_content()
    assert "Checkout failed for 20 minutes." in body
    assert f"http://tocsin.test/postmortems/{postmortem.id}" in body
    assert f"you follow {reference}" in body
    entries = [e.summary for e in incident_queries.timeline(db, postmortem.incident)]
    assert "Ada Admin published the postmortem" in entries
    assert "The published postmortem is emailed to 1 stakeholder" in entries


def test_a_rolled_back_publication_sends_nothing(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    postmortem = _reviewed(db, admin, responder)
    stakeholders.add(db, postmortem.incident, by=admin, user_id=responder.id)
    db.commit()
    work(db, container)
    sent_before = len(smtp.messages)
    publishing.publish(db, postmortem, by=admin)
    db.rollback()
    work(db, container)
    assert len(smtp.messages) == sent_before
    db.expire_all()
    assert db.get(Postmortem, postmortem.id).published_at is None  # type: ignore[union-attr]


def test_a_restricted_incidents_published_postmortem_stays_hidden_from_others(
    api: TestClient,
    client: TestClient,
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    viewer: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    outsider = catalog.create_user(db, name="Otto Outsider", email="otto@example.com",
                                   role="responder")  # fmt: skip
    db.commit()
    # The reviewer must see the incident: the responder is made a member (following a private
    # incident would not be enough).
    postmortem = service.start(db, incident_of(db, admin, "SEV2", restricted=True), by=admin)
    stakeholders.add(db, postmortem.incident, by=admin, user_id=outsider.id)
    members.add_member(db, postmortem.incident, user_id=responder.id, by=admin)
    service.change_status(db, postmortem, "in_review", by=admin)
    db.commit()
    refused = api.post(f"/api/v1/postmortems/{postmortem.id}/reviewers",
                       json={"user_id": outsider.id})  # fmt: skip
    assert refused.status_code == 422 and "private" in refused.text  # Otto only follows it
    review.add_reviewer(db, postmortem, responder.id, by=admin)
    review.give_verdict(db, postmortem, "approved", "", by=responder)
    service.change_status(db, postmortem, "reviewed", by=admin)
    db.commit()
    assert api.post(f"/api/v1/postmortems/{postmortem.id}/publish").status_code == 200

    as_otto = api_as(client, db, outsider)
    for path in ("", "/export.pdf", "/comments", "/reviewers"):
        got = client.get(f"/api/v1/postmortems/{postmortem.id}{path}", headers=as_otto)
        assert got.status_code == 404, path
    listed = client.get("/api/v1/postmortems", params={"status": "reviewed"}, headers=as_otto)
    assert listed.json()["total"] == 0
    as_rita = api_as(client, db, responder)
    assert client.get(f"/api/v1/postmortems/{postmortem.id}", headers=as_rita).status_code == 200
    # Everyone may read an unrestricted incident's published postmortem.
    other = _reviewed(db, admin, responder)
    assert api.post(f"/api/v1/postmortems/{other.id}/publish").status_code == 200
    as_vic = api_as(client, db, viewer)
    assert client.get(f"/api/v1/postmortems/{other.id}", headers=as_vic).status_code == 200


def test_a_review_request_that_cannot_be_delivered_is_on_the_timeline_once(
    db: Session,
    container: Container,
    admin: User,
    responder: User,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    async def refuse(server: object, session: object, envelope: object) -> str:
        return "554 Transaction failed"

    smtp.mailbox.handle_DATA = refuse  # type: ignore[method-assign]
    postmortem = service.start(db, incident_of(db, admin, "SEV2"), by=admin)
    review.add_reviewer(db, postmortem, responder.id, by=admin)
    db.commit()
    work(db, container)
    failed = [
        e
        for e in incident_queries.timeline(db, postmortem.incident)
        if e.kind == "postmortem" and "failed" in e.summary
    ]
    assert [e.summary.split(":")[0] for e in failed] == [
        "The postmortem review request to Rita Responder failed"
    ]
    assert "554" in failed[0].summary
