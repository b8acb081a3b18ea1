"""Following a service: its followers become stakeholders of its incidents, when declared by
hand or from an alert, when the service is added later, or when a drill turns real or a
restriction is lifted; and the next internal update reaches them (real SMTP)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.comms.conftest import declare, email_method, run_jobs
from tests.notify.conftest import SmtpServer
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team, User
from tocsin.comms import followers, stakeholders
from tocsin.comms.models import ServiceFollower, Stakeholder
from tocsin.config import Settings
from tocsin.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tocsin.incidents import service as incidents
from tocsin.incidents.access import can_see
from tocsin.incidents.models import Incident, TimelineEntry
from tocsin.incidents.updates import post_update


def _stakeholders(db: Session, incident: Incident) -> dict[str, str]:
    """Name → why they are there ("follows Checkout", or "" when added by hand)."""
    db.expire_all()
    return {s.name: s.reason for s in stakeholders.stakeholders_of(db, incident)}


def _entries(db: Session, incident: Incident, kind: str = "stakeholders_added") -> list[str]:
    return list(
        db.scalars(
            select(TimelineEntry.summary)
            .where(TimelineEntry.incident_id == incident.id, TimelineEntry.kind == kind)
            .order_by(TimelineEntry.id)
        )
    )


@pytest.fixture
def checkout(db: Session) -> Service:
    return catalog.create_service(db, name="Checkout")


@pytest.fixture
def support(db: Session, viewer: User) -> Team:
    return catalog.create_team(db, name="Customer Support", member_ids=[viewer.id])


def test_declaring_on_a_followed_service_adds_its_followers_and_the_update_reaches_them(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    admin: User,
    responder: User,
    viewer: User,
    checkout: Service,
    support: Team,
) -> None:
    sofia = catalog.create_user(db, name="Sofia Lind", email="sofia@example.com",
                                role="responder", team_ids=[support.id])  # fmt: skip
    for person in (responder, viewer, sofia):
        email_method(db, person, settings)
    followers.follow_service(db, checkout, by=responder)
    followers.add_follower(db, checkout, by=admin, team_id=support.id)
    search = catalog.create_service(db, name="Search")
    followers.follow_service(db, search, by=admin)  # another service: not on this incident
    incident = declare(db, admin, service_ids=[checkout.id])
    assert _stakeholders(db, incident) == {
        "Rita Responder": "follows Checkout",
        "Customer Support": "follows Checkout",
    }
    (entry,) = _entries(db, incident)
    assert entry == (
        "Added as stakeholders because they follow Checkout: Rita Responder and the Customer "
        "Support team."
    )
    db.commit()
    run_jobs(container)
    assert smtp.messages == []  # following is not a page: nothing until an update

    post_update(db, incident, phase="investigating", body="Card payments fail.", by=admin)
    db.commit()
    run_jobs(container)
    mails = {m["To"]: m.get_content() for m in smtp.messages}
    assert set(mails) == {
        "Rita Responder <rita@example.com>",
        "Vic Viewer <vic@example.com>",  # a member of the team
        "Sofia Lind <sofia@example.com>",
    }
    assert "Card payments fail." in mails["Rita Responder <rita@example.com>"]
    assert (
        f"You get this because you follow Checkout, a service {incident.reference} affects."
        in mails["Rita Responder <rita@example.com>"]
    )
    assert (
        f"because your team Customer Support follows Checkout, a service {incident.reference}"
        in mails["Vic Viewer <vic@example.com>"]
    )


def test_an_incident_declared_from_an_alert_gets_the_followers_too(
    db: Session, responder: User, checkout: Service
) -> None:
    followers.follow_service(db, checkout, by=responder)
    incident = incidents.declare(db, by=None, title="High error rate", service_ids=[checkout.id])
    assert _stakeholders(db, incident) == {"Rita Responder": "follows Checkout"}
    (entry,) = db.scalars(
        select(TimelineEntry).where(
            TimelineEntry.incident_id == incident.id, TimelineEntry.kind == "stakeholders_added"
        )
    )
    assert entry.actor_id is None  # Tocsin did it, not a person


def test_following_a_service_does_not_open_its_restricted_incidents(
    db: Session,
    container: Container,
    settings: Settings,
    smtp: SmtpServer,
    admin: User,
    responder: User,
    viewer: User,
    checkout: Service,
    support: Team,
) -> None:
    email_method(db, viewer, settings)
    email_method(db, responder, settings)
    followers.follow_service(db, checkout, by=viewer)
    followers.follow_service(db, checkout, by=responder)
    followers.follow_service(db, checkout, by=admin)  # sees every incident anyway
    followers.add_follower(db, checkout, by=admin, team_id=support.id)  # Vic is a member
    incident = declare(db, responder, service_ids=[checkout.id], restricted=True)
    # Stakeholders may see a restricted incident: only those who may see it already join.
    assert _stakeholders(db, incident) == {
        "Ada Admin": "follows Checkout",
        "Rita Responder": "follows Checkout",  # she declared it
    }
    (entry,) = _entries(db, incident)
    assert entry == (
        "Added as stakeholders because they follow Checkout: Ada Admin and Rita Responder. "
        "Not added (restricted: only admins and the people involved see it): Vic Viewer and "
        "the Customer Support team."
    )
    post_update(db, incident, phase="investigating", body="Secret details.", by=responder)
    db.commit()
    run_jobs(container)
    assert [m["To"] for m in smtp.messages] == ["Rita Responder <rita@example.com>"]

    # Lifted: those kept out join, once; nobody else is added again.
    incidents.edit(db, incident, {"restricted": False}, by=admin)
    assert _stakeholders(db, incident)["Vic Viewer"] == "follows Checkout"
    assert _entries(db, incident)[-1] == (
        "Added as stakeholders because they follow Checkout: Vic Viewer and the Customer "
        "Support team."
    )
    assert len(_stakeholders(db, incident)) == 4


def test_a_restricted_incident_gets_no_follower_who_may_not_see_it(
    db: Session, admin: User, responder: User, checkout: Service, support: Team
) -> None:
    followers.follow_service(db, checkout, by=responder)
    followers.add_follower(db, checkout, by=admin, team_id=support.id)
    incident = declare(db, admin, service_ids=[checkout.id], restricted=True)
    assert _stakeholders(db, incident) == {}
    assert _entries(db, incident) == [
        "Not added as stakeholders though they follow Checkout (restricted: only admins and "
        "the people involved see it): Rita Responder and the Customer Support team."
    ]
    assert not can_see(db, responder, incident)


def test_adding_a_service_later_adds_its_followers_and_only_once(
    db: Session, admin: User, responder: User, viewer: User, checkout: Service, support: Team
) -> None:
    search = catalog.create_service(db, name="Search")
    followers.follow_service(db, checkout, by=responder)
    followers.follow_service(db, checkout, by=viewer)
    followers.add_follower(db, search, by=admin, team_id=support.id)
    followers.follow_service(db, search, by=responder)  # follows both: added once
    incident = declare(db, admin, service_ids=[search.id])
    stakeholders.unfollow(db, incident, by=responder)  # changed her mind
    stakeholders.follow(db, incident, by=viewer)  # already follows the incident by hand
    before = len(_entries(db, incident))

    incidents.edit(db, incident, {"title": "Search and checkout slow"}, by=admin)
    assert len(_entries(db, incident)) == before  # no service added: nothing happens

    incidents.edit(db, incident, {"service_ids": [search.id, checkout.id]}, by=admin)
    assert _stakeholders(db, incident) == {
        "Rita Responder": "follows Checkout",  # newly affected service: she is back
        "Vic Viewer": "",  # kept as it was: she follows the incident herself
        "Customer Support": "follows Search",
    }
    assert _entries(db, incident)[-1] == (
        "Added as stakeholders because they follow Checkout: Rita Responder."
    )
    # The same services again (and a second run of the hook) add nobody.
    incidents.edit(db, incident, {"service_ids": [checkout.id, search.id]}, by=admin)
    assert followers.add_followers(db, incident, [checkout, search]) == []
    rows = db.scalars(select(Stakeholder).where(Stakeholder.incident_id == incident.id)).all()
    assert len(rows) == 3


def test_drills_add_nobody_until_they_turn_out_real(
    db: Session, admin: User, responder: User, checkout: Service
) -> None:
    followers.follow_service(db, checkout, by=responder)
    drill = declare(db, admin, service_ids=[checkout.id], drill=True)
    assert _stakeholders(db, drill) == {}
    assert _entries(db, drill) == []
    incidents.edit(db, drill, {"drill": False}, by=admin)
    assert _stakeholders(db, drill) == {"Rita Responder": "follows Checkout"}


def test_deactivated_followers_are_not_added(
    db: Session, admin: User, responder: User, checkout: Service
) -> None:
    followers.follow_service(db, checkout, by=responder)
    catalog.update_user(db, responder, {"active": False})
    incident = declare(db, admin, service_ids=[checkout.id])
    assert _stakeholders(db, incident) == {}
    assert _entries(db, incident) == []


def test_the_timeline_entry_names_ten_and_counts_the_rest(
    db: Session, admin: User, checkout: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(followers, "INSERT_BATCH", 5)  # several statements: none lost
    for n in range(12):
        person = catalog.create_user(db, name=f"Person {n:02}", email=f"p{n}@example.com")
        followers.follow_service(db, checkout, by=person)
    search = catalog.create_service(db, name="Search")
    followers.follow_service(db, search, by=admin)
    incident = declare(db, admin, service_ids=[checkout.id, search.id])
    (entry,) = _entries(db, incident)
    assert entry.startswith("Added as stakeholders because they follow its services: Person 00,")
    assert entry.endswith("Person 09 and 2 more (Checkout); Ada Admin (Search).")
    assert len(_stakeholders(db, incident)) == 13


def test_following_and_adding_followers_rules(
    db: Session, admin: User, responder: User, viewer: User, checkout: Service, support: Team
) -> None:
    mine = followers.follow_service(db, checkout, by=viewer)
    assert followers.follow_service(db, checkout, by=viewer).id == mine.id  # again: no change
    with pytest.raises(Forbidden):
        followers.add_follower(db, checkout, by=viewer, team_id=support.id)
    with pytest.raises(Conflict, match="Vic Viewer already follows Checkout"):
        followers.add_follower(db, checkout, by=responder, user_id=viewer.id)
    with pytest.raises(ValidationFailed) as both:
        followers.add_follower(db, checkout, by=responder, user_id=viewer.id, team_id=support.id)
    assert both.value.field == "user_id"
    with pytest.raises(NotFound) as missing:
        followers.add_follower(db, checkout, by=responder, team_id=999)
    assert missing.value.field == "team_id"
    gone = catalog.create_user(db, name="Gone", email="gone@example.com")
    catalog.update_user(db, gone, {"active": False})
    with pytest.raises(ValidationFailed, match="deactivated"):
        followers.add_follower(db, checkout, by=responder, user_id=gone.id)
    team_row = followers.add_follower(db, checkout, by=responder, team_id=support.id)
    with pytest.raises(Conflict, match="the Customer Support team already follows Checkout"):
        followers.add_follower(db, checkout, by=admin, team_id=support.id)
    # A viewer removes only themselves.
    with pytest.raises(Forbidden):
        followers.remove_follower(db, checkout, team_row.id, by=viewer)
    followers.remove_follower(db, checkout, mine.id, by=viewer)
    assert followers.unfollow_service(db, checkout, by=viewer) is False
    assert [f.name for f in followers.followers_of(db, checkout)] == ["Customer Support"]
    other = catalog.create_service(db, name="Search")
    with pytest.raises(NotFound):
        followers.remove_follower(db, other, team_row.id, by=admin)


def test_deleting_a_service_team_or_user_keeps_everything_working(
    db: Session, admin: User, responder: User, checkout: Service, support: Team
) -> None:
    followers.follow_service(db, checkout, by=responder)
    followers.add_follower(db, checkout, by=admin, team_id=support.id)
    incident = declare(db, admin, service_ids=[checkout.id])
    db.commit()
    catalog.delete_team(db, support)
    db.commit()
    assert [f.name for f in followers.followers_of(db, checkout)] == ["Rita Responder"]
    catalog.delete_service(db, checkout)
    db.commit()
    assert db.scalars(select(ServiceFollower)).all() == []
    # The stakeholder stays, and still says why it was added.
    assert _stakeholders(db, incident) == {"Rita Responder": "follows Checkout"}
    (row,) = stakeholders.stakeholders_of(db, incident)
    assert row.via_service_id is None
