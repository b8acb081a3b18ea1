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
SERVICE = "service"  # a service's page; the subject is the Service
USER_NOTIFICATIONS = "user_notifications"  # a person's notification settings; the User


@dataclass(frozen=True)
class Card:
    name: str  # the context variable its template reads
    template: str  # the partial to include
    build: Callable[[Session, Any, Request], Any]  # (db, the page's subject, the request)


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


def for_page(request: Request, slot: str, db: Session, subject: Any) -> dict[str, Any]:
    """What a page adds to its template's context for `slot`: `cards` (the templates to
    include, in order) and each card's variable."""
    cards: Cards = request.app.state.cards
    shown = cards.of(slot)
    built = {card.name: card.build(db, subject, request) for card in shown}
    return {"cards": [card.template for card in shown], **built}
