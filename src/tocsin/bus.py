"""Domain events: how one domain reacts to another's change without importing it.

A domain declares what happens to it in `<domain>/events.py`, as frozen dataclasses that
subclass `Event` and carry ids and facts (never ORM objects). Its service functions call
`emit(session, event)` once the change is written. `emit` calls every handler subscribed to
that exact event type, synchronously and in subscription order, inside the caller's
transaction: a handler writes through its own domain's service functions and enqueues jobs
for side effects, so a change that is rolled back has no reaction either, and an error in a
handler fails the change that caused it.

Subscriptions are made in the composition root only (`tocsin.wiring.build_bus`). The bus
reaches a session through `Session.info`, which the session factory the composition root
builds fills in (`session_info`); a session without one refuses to emit (`NoBus`) rather
than silently losing the reactions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

INFO_KEY = "tocsin.bus"


@dataclass(frozen=True)
class Event:
    """Base of every domain event (a frozen dataclass: a subclass cannot be mutable)."""


E = TypeVar("E", bound=Event)
Handler = Callable[[Session, Any], object]


class NoBus(RuntimeError):
    """An event was emitted on a session that no composition root gave a bus."""


class Bus:
    """Handlers by event type, in the order they were subscribed."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[Session, E], object]) -> None:
        """Call `handler(session, event)` for every `event_type` emitted (not its subclasses)."""
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"{event_type!r} is not a tocsin.bus.Event")
        self._handlers.setdefault(event_type, []).append(handler)

    def handlers(self, event_type: type[Event]) -> tuple[Handler, ...]:
        return tuple(self._handlers.get(event_type, ()))

    def subscriptions(self) -> dict[type[Event], tuple[Handler, ...]]:
        """Every event type with its handlers, for documentation and tests."""
        return {kind: tuple(handlers) for kind, handlers in self._handlers.items()}

    def publish(self, session: Session, event: Event) -> None:
        for handler in self.handlers(type(event)):
            handler(session, event)


def session_info(bus: Bus) -> dict[str, Any]:
    """What a session factory puts in `Session.info` so that its sessions can emit."""
    return {INFO_KEY: bus}


def bus_of(session: Session) -> Bus:
    """The session's bus; `NoBus` when its factory was built without one."""
    bus = session.info.get(INFO_KEY)
    if not isinstance(bus, Bus):
        raise NoBus(
            "this session has no event bus: build it with the composition root's session "
            "factory (tocsin.bootstrap.build), or its reactions would be lost"
        )
    return bus


def emit(session: Session, event: Event) -> None:
    """Run every reaction to `event` now, in the session's transaction."""
    if not isinstance(event, Event):
        raise TypeError(f"{event!r} is not a tocsin.bus.Event")
    bus_of(session).publish(session, event)
