"""Cards one domain shows on another domain's page, without that page's domain importing it.

A page names a slot (the incident page's side column, a service's page, a person's
notification settings) and renders whatever cards the composition root put there
(`tocsin.wiring.build_cards`, kept on `app.state.cards`): each card is the partial template to
include and a function that builds the context variable that template reads. The incident
page thereby shows paging, communication and status page cards while the incidents package
imports none of those domains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

INCIDENT = "incident"  # the incident page's side column; the subject is the Incident
INCIDENT_MAIN = "incident_main"  # the incident page's main column (its alerts)
INCIDENT_ROLES = "incident_roles"  # inside the incident page's Roles card (the roster)
# The resolve form (the incident page's dialog and the resolve page): its cards add fields,
# and what they ask for is done with the resolve, in its transaction (`Card.submit`).
INCIDENT_RESOLVE = "incident_resolve"
SERVICE = "service"  # a service's page; the subject is the Service
USER_NOTIFICATIONS = "user_notifications"  # a person's notification settings; the User
# A part of each action item's row (the incident page's Action items, the follow-up list): the
# subject is the list of items shown, built once; the template is included in each item's row,
# where it reads `item`.
ACTION_ITEMS = "action_items"

# A form's part: checks what the form asks of its card (raising a domain error, writing
# nothing), and returns what to do once the page's own action is done (given who acts), or
# None when the form asks nothing of it.
Submit = Callable[[Session, Any, Any], "Callable[[Any], str] | None"]


@dataclass(frozen=True)
class Card:
    name: str  # the context variable its template reads
    template: str  # the partial to include
    build: Callable[[Session, Any, Request], Any]  # (db, the page's subject, the request)
    # (db, the subject, the form) for a card that adds fields to a form; its action returns a
    # sentence for the notice shown after ("Customers told on Acme.").
    submit: Submit | None = None


def viewer(request: Request) -> Any:
    """The signed-in user viewing the page (None on a public page)."""
    return getattr(request.state, "user", None)


class Cards:
    """The cards of each slot, in the order they are shown."""

    def __init__(self) -> None:
        self._slots: dict[str, list[Card]] = {}

    def add(self, slot: str, card: Card) -> None:
        self._slots.setdefault(slot, []).append(card)

    def of(self, slot: str) -> tuple[Card, ...]:
        return tuple(self._slots.get(slot, ()))


def for_page(
    request: Request, slot: str, db: Session, subject: Any, *, key: str = "cards"
) -> dict[str, Any]:
    """What a page adds to its template's context for `slot`: `key` (the templates to
    include, in order) and each card's variable."""
    cards: Cards = request.app.state.cards
    shown = cards.of(slot)
    built = {card.name: card.build(db, subject, request) for card in shown}
    return {key: [card.template for card in shown], **built}


def submit(request: Request, slot: str, db: Session, subject: Any, form: Any) -> list[Any]:
    """Check every card's part of a submitted form (nothing is written yet); what to do,
    in order, once the page's own action is done."""
    cards: Cards = request.app.state.cards
    checked = [card.submit(db, subject, form) for card in cards.of(slot) if card.submit]
    return [then for then in checked if then is not None]
