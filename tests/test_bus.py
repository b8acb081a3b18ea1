"""The event bus: reactions run in the caller's transaction, in order, and never get lost."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.bootstrap import Container
from tocsin.bus import Bus, Event, NoBus, bus_of, emit, session_info
from tocsin.db import make_sessionmaker, rebind, transaction
from tocsin.jobs.models import Job
from tocsin.jobs.queue import enqueue


@dataclass(frozen=True)
class Pinged(Event):
    target: int


@dataclass(frozen=True)
class LoudPinged(Pinged):
    pass


def _queue_job(session: Session, event: Pinged) -> None:
    enqueue(session, "test.pinged", {"target": event.target})


def _kinds(container: Container) -> list[str]:
    with container.sessionmaker() as session:
        return list(session.scalars(select(Job.kind).where(Job.kind.like("test.%"))))


def test_handlers_run_in_subscription_order_for_their_exact_type(container: Container) -> None:
    seen: list[tuple[str, int]] = []
    bus = Bus()
    bus.subscribe(Pinged, lambda session, event: seen.append(("first", event.target)))
    bus.subscribe(Pinged, lambda session, event: seen.append(("second", event.target)))
    bus.subscribe(LoudPinged, lambda session, event: seen.append(("loud", event.target)))
    factory = make_sessionmaker(container.engine, info=session_info(bus))
    with factory() as session:
        emit(session, Pinged(1))
        emit(session, LoudPinged(2))
    assert seen == [("first", 1), ("second", 1), ("loud", 2)]


def test_events_are_frozen_and_only_events_can_be_subscribed() -> None:
    with pytest.raises(FrozenInstanceError):
        Pinged(1).target = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        Bus().subscribe(dict, lambda session, event: None)  # type: ignore[arg-type]


def test_a_rolled_back_change_has_no_reaction(container: Container) -> None:
    bus = Bus()
    bus.subscribe(Pinged, _queue_job)
    factory = make_sessionmaker(container.engine, info=session_info(bus))
    with factory() as session:
        emit(session, Pinged(1))
        session.rollback()
    assert _kinds(container) == []
    with transaction(factory) as session:
        emit(session, Pinged(2))
    assert _kinds(container) == ["test.pinged"]


def test_a_failing_reaction_fails_the_change(container: Container) -> None:
    def broken(session: Session, event: Pinged) -> None:
        raise RuntimeError("reaction failed")

    bus = Bus()
    bus.subscribe(Pinged, _queue_job)
    bus.subscribe(Pinged, broken)
    factory = make_sessionmaker(container.engine, info=session_info(bus))
    with pytest.raises(RuntimeError, match="reaction failed"), transaction(factory) as session:
        enqueue(session, "test.change", {})
        emit(session, Pinged(1))
    assert _kinds(container) == []  # neither the change nor the first reaction


def test_a_session_without_a_bus_fails_loudly(container: Container) -> None:
    with Session(container.engine) as session, pytest.raises(NoBus, match="no event bus"):
        emit(session, Pinged(1))
    with make_sessionmaker(container.engine)() as session, pytest.raises(NoBus):
        bus_of(session)


def test_every_factory_derived_from_the_containers_carries_its_bus(
    container: Container,
) -> None:
    with container.sessionmaker() as session:
        bus = bus_of(session)
    derived = rebind(container.sessionmaker, container.engine.execution_options())
    with derived() as session:
        assert bus_of(session) is bus
    runner = container.runner()
    with runner.factory() as session:
        assert bus_of(session) is bus
