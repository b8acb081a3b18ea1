"""Composition root for how domains react to each other: `build_bus` subscribes each domain's
reactions to the events of the domains below it, and `session_factory` is the one session
factory, whose sessions carry that bus. Only this module (with `bootstrap` and `app`) knows
both sides of a reaction; no domain imports another to react to it."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tocsin.bus import Bus, session_info
from tocsin.db import make_sessionmaker


def build_bus() -> Bus:
    """Every reaction, subscribed in the order it runs."""
    bus = Bus()
    return bus


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """The session factory every process uses: its sessions emit through `build_bus()`."""
    return make_sessionmaker(engine, info=session_info(build_bus()))
