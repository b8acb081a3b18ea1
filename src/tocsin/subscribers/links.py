"""Finding the subscriber behind a confirm or unsubscribe link, and saying why a link cannot
be used. A token is checked against the subscriber it names (its id, its salt, the server's
key) and the page in the URL: it can only ever act on that one subscriber."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tocsin.statuspages.models import StatusPage
from tocsin.subscribers import tokens
from tocsin.subscribers.models import Subscriber, SubscriberState

INVALID = "This link is not valid. Copy the whole link from the mail, or subscribe again."


@dataclass(frozen=True)
class LinkState:
    """`problem` is None when the link can be used."""

    subscriber: Subscriber | None
    problem: str | None
    status_code: int = 200


def _subscriber(session: Session, page: StatusPage, subscriber_id: int | None) -> Subscriber | None:
    if subscriber_id is None:
        return None
    subscriber = session.get(Subscriber, subscriber_id)
    return subscriber if subscriber is not None and subscriber.page_id == page.id else None


def confirm_link(
    session: Session, page: StatusPage, token: str, secret_key: str, *, now: float | None = None
) -> LinkState:
    claim = tokens.confirm_claim(token) if len(token) <= 200 else None
    subscriber = _subscriber(session, page, claim.subscriber_id if claim else None)
    if (
        claim is None
        or subscriber is None
        or not tokens.confirm_valid(secret_key, token, subscriber.link_salt)
    ):
        return LinkState(None, INVALID, 404)
    if claim.expires < (time.time() if now is None else now):
        return LinkState(
            subscriber,
            "This confirmation link has expired. Subscribe again to get a new one.",
            410,
        )
    if subscriber.state == SubscriberState.unsubscribed:
        return LinkState(
            subscriber, "This subscription was cancelled. Subscribe again to start over.", 410
        )
    return LinkState(subscriber, None)


def unsubscribe_link(session: Session, page: StatusPage, token: str, secret_key: str) -> LinkState:
    claimed = tokens.unsubscribe_id(token) if len(token) <= 200 else None
    subscriber = _subscriber(session, page, claimed)
    if subscriber is None or not tokens.unsubscribe_valid(
        secret_key, token, subscriber.id, subscriber.link_salt
    ):
        return LinkState(None, INVALID, 404)
    return LinkState(subscriber, None)
