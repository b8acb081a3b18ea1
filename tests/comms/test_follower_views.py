"""The service page's Followers card, driven through its forms as a browser would (CSRF
included), and the reason an automatically added stakeholder shows on the incident page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.comms.conftest import declare
from tests.conftest import browser_login
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, User
from tocsin.comms import followers
from tocsin.comms.models import ServiceFollower


def _card(html: str) -> str:
    start = html.index('id="followers"')
    return html[start : html.index("</section>", start)]


def _names(db: Session, service: Service) -> list[str]:
    db.rollback()  # a fresh snapshot
    return [f.name for f in followers.followers_of(db, service)]


def test_a_viewer_follows_and_unfollows_a_service_from_its_page(
    client: TestClient, db: Session, admin: User, viewer: User
) -> None:
    checkout = catalog.create_service(db, name="Checkout", description="The <b>checkout</b>.")
    db.commit()
    page = f"/services/{checkout.id}"
    csrf = browser_login(client, viewer.email)
    html = client.get(page).text
    assert "The &lt;b&gt;checkout&lt;/b&gt;." in html  # escaped
    card = _card(html)
    assert "Nobody follows this service yet." in card
    assert ">Follow this service</button>" in card and "Add a person or a team" not in card

    refused = client.post(f"{page}/follow", data={}, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token: nothing happens
    assert _names(db, checkout) == []

    followed = client.post(f"{page}/follow", data={"csrf_token": csrf}, follow_redirects=False)
    assert followed.status_code == 303 and followed.headers["location"].endswith("#followers")
    html = client.get(page).text
    assert "You follow Checkout: you will be a stakeholder of its incidents." in html
    card = _card(html)
    assert "Vic Viewer" in card and ">Unfollow this service</button>" in card
    assert _names(db, checkout) == ["Vic Viewer"]

    # A viewer may not add others, and the page still works afterwards.
    added = client.post(f"{page}/followers", data={"csrf_token": csrf, "user_id": admin.id})
    assert added.status_code == 403
    unfollowed = client.post(f"{page}/unfollow", data={"csrf_token": csrf})
    assert unfollowed.status_code == 200 and "You no longer follow Checkout." in unfollowed.text
    assert _names(db, checkout) == []
    # Her team follows it: the card tells her she hears about it anyway.
    team = catalog.create_team(db, name="Customer Support", member_ids=[viewer.id])
    followers.add_follower(db, checkout, by=admin, team_id=team.id)
    db.commit()
    card = _card(client.get(page).text)
    assert "You also hear about its incidents through Customer Support." in card


def test_a_responder_adds_and_removes_people_and_teams(
    client: TestClient, db: Session, responder: User, viewer: User
) -> None:
    checkout = catalog.create_service(db, name="Checkout")
    team = catalog.create_team(db, name="Support <Tier 1>")
    db.commit()
    page = f"/services/{checkout.id}"
    csrf = browser_login(client, responder.email)
    assert "Add a person or a team" in _card(client.get(page).text)

    added = client.post(f"{page}/followers", data={"csrf_token": csrf, "team_id": team.id})
    assert added.status_code == 200 and "Follower added." in added.text
    card = _card(added.text)
    assert "Support &lt;Tier 1&gt;" in card and "Support <Tier 1>" not in card
    again = client.post(f"{page}/followers", data={"csrf_token": csrf, "team_id": team.id})
    assert "the Support &lt;Tier 1&gt; team already follows Checkout" in again.text
    bad = client.post(f"{page}/followers", data={"csrf_token": csrf, "user_id": "abc"})
    assert "user_id must be a number" in bad.text
    neither = client.post(f"{page}/followers", data={"csrf_token": csrf})
    assert "give either user_id or team_id" in neither.text
    client.post(f"{page}/followers", data={"csrf_token": csrf, "user_id": viewer.id})
    assert _names(db, checkout) == ["Vic Viewer", "Support <Tier 1>"]
    card = _card(client.get(page).text)
    hint = 'title="Viewers cannot see private incidents they are not members of">viewer</span>'
    assert hint in card

    row_id = db.scalar(select(ServiceFollower.id).where(ServiceFollower.team_id == team.id))
    removed = client.post(f"{page}/followers/{row_id}/delete", data={"csrf_token": csrf})
    assert "Follower removed." in removed.text
    assert _names(db, checkout) == ["Vic Viewer"]
    missing = client.post(f"{page}/followers/{row_id}/delete", data={"csrf_token": csrf})
    assert f"no follower {row_id} of Checkout" in missing.text
    assert client.get("/services/9999").status_code == 404


def test_the_incident_page_says_why_a_stakeholder_was_added(
    client: TestClient, db: Session, admin: User, viewer: User
) -> None:
    checkout = catalog.create_service(db, name="Checkout")
    followers.follow_service(db, checkout, by=viewer)
    incident = declare(db, admin, service_ids=[checkout.id])
    db.commit()
    browser_login(client, admin.email)
    html = client.get(f"/incidents/{incident.reference}").text
    card = html[html.index('id="communication"') :]
    assert (
        f'Vic Viewer <small class="muted">follows <a href="/services/{checkout.id}">'
        in " ".join(card.split())
    )
    assert "Added as stakeholders because they follow Checkout: Vic Viewer." in html  # timeline
    # The service list and the incident link to the service page.
    assert f'href="/services/{checkout.id}"' in client.get("/settings/services").text


def _followed_card(html: str) -> str:
    start = html.index('id="followed-services"')
    return html[start : html.index("</section>", start)]


def test_a_persons_page_lists_the_services_they_follow_and_how(
    client: TestClient, db: Session, admin: User, viewer: User
) -> None:
    browser_login(client, viewer.email)
    page = f"/users/{viewer.id}/notifications"
    assert "No services followed." in _followed_card(client.get(page).text)

    checkout = catalog.create_service(db, name="Checkout <EU>")
    payments = catalog.create_service(db, name="Payments")
    catalog.create_service(db, name="Search")
    team = catalog.create_team(db, name="Support", member_ids=[viewer.id])
    followers.follow_service(db, checkout, by=viewer)
    followers.add_follower(db, checkout, team_id=team.id, by=admin)
    followers.add_follower(db, payments, team_id=team.id, by=admin)
    db.commit()

    card = _followed_card(client.get(page).text)
    assert f'href="/services/{checkout.id}">Checkout &lt;EU&gt;</a>' in card  # escaped
    assert "(followed directly, through team Support)" in card
    assert f'href="/services/{payments.id}">Payments</a>' in card
    assert "(followed through team Support)" in card
    assert "Search" not in card
    assert card.index("Checkout") < card.index("Payments")

    # An admin reading her page sees the same list.
    browser_login(client, admin.email)
    assert "Payments" in _followed_card(client.get(page).text)
