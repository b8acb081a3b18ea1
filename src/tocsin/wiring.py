"""Composition root for how domains react to each other: `build_bus` subscribes each domain's
reactions to the events of the domains it builds on, and `session_factory` is the one session
factory, whose sessions carry that bus. Only this module (with `bootstrap` and `app`) knows
both sides of a reaction; no domain imports another to react to it."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tocsin.bus import Bus, session_info
from tocsin.comms import followers as comms_followers
from tocsin.comms import sending as comms_sending
from tocsin.db import make_sessionmaker
from tocsin.escalation import engine as escalation
from tocsin.incidents import events as incident_events
from tocsin.notify import shifts as shift_notices
from tocsin.schedules.events import ScheduleChanged
from tocsin.statuspages import publish as statuspage_publish
from tocsin.statuspages.events import PageEvent
from tocsin.subscribers import service as subscribers


def build_bus() -> Bus:
    """Every reaction, subscribed in the order it runs."""
    bus = Bus()
    # An incident declared: the followers of its services become stakeholders, and paging
    # starts (after commit).
    bus.subscribe(incident_events.IncidentDeclared, comms_followers.on_incident_declared)
    bus.subscribe(incident_events.IncidentDeclared, escalation.on_incident_declared)
    # Acknowledged: its paging stops.
    bus.subscribe(incident_events.IncidentStatusChanged, escalation.on_incident_status_changed)
    # Edited: status pages withdraw an incident that became a drill or restricted; followers of
    # newly affected services (or kept out until a restriction or drill ended) join it.
    bus.subscribe(incident_events.IncidentEdited, statuspage_publish.on_incident_edited)
    bus.subscribe(incident_events.IncidentEdited, comms_followers.on_incident_edited)
    # An update posted: it goes to the stakeholders and the matching channels.
    bus.subscribe(incident_events.UpdatePosted, comms_sending.on_update_posted)
    # A schedule changed: the people whose shifts changed are told.
    bus.subscribe(ScheduleChanged, shift_notices.on_schedule_changed)
    # A status page published an update, a component change or a maintenance reminder: its
    # subscribers are told.
    bus.subscribe(PageEvent, subscribers.on_page_event_published)
    return bus


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """The session factory every process uses: its sessions emit through `build_bus()`."""
    return make_sessionmaker(engine, info=session_info(build_bus()))
