"""How chat reacts to other domains' events (subscribed in `wiring.build_bus`): an incident
declared (or raised to a severity that has channels) gets its channels; every change its
header shows queues the channels' upkeep; a closed incident's channels are archived after
the connection's delay; updates are posted in the channels.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.chat import channels
from tocsin.chat.models import ChannelState, ChatConnection
from tocsin.chat.ports import Message
from tocsin.chat.sync import queue_post
from tocsin.incidents.events import (
    IncidentDeclared,
    IncidentEdited,
    IncidentSeverityChanged,
    IncidentStatusChanged,
    RoleAssigned,
    UpdatePosted,
)
from tocsin.incidents.models import Incident, Status, StatusUpdate
from tocsin.notify.events import NotificationSent


def on_incident_declared(session: Session, event: IncidentDeclared, *, base_url: str) -> None:
    incident = session.get(Incident, event.incident_id)
    if incident is None:
        return
    channels.ensure(session, incident)
    if incident.restricted:
        return  # announced nowhere: only its own private channel knows it
    link = channels.incident_link(base_url, incident)
    severity = f" ({incident.severity.name})" if incident.severity else ""
    drill = "[DRILL] " if incident.drill else ""
    for connection in session.scalars(
        select(ChatConnection).where(
            ChatConnection.enabled.is_(True), ChatConnection.announce_channel != ""
        )
    ):
        queue_post(
            session,
            connection,
            Message(
                text=f"{drill}{incident.reference} declared{severity}: {incident.title}",
                title=f"{drill}{incident.reference} declared{severity}: {incident.title}",
                link=link,
            ),
            channel_id=connection.announce_channel,
        )


def on_incident_severity_changed(session: Session, event: IncidentSeverityChanged) -> None:
    incident = session.get(Incident, event.incident_id)
    if incident is not None:
        channels.ensure(session, incident)


def on_incident_status_changed(session: Session, event: IncidentStatusChanged) -> None:
    incident = session.get(Incident, event.incident_id)
    if incident is None:
        return
    if event.new == Status.closed:
        channels.closing(session, incident)
    elif event.old == Status.closed:
        channels.reopened(session, incident)
    else:
        channels.refresh(session, incident.id)


def on_changed(session: Session, event: RoleAssigned | IncidentEdited | NotificationSent) -> None:
    """Roles, people paged, title or links changed: the header and the members follow."""
    channels.refresh(session, event.incident_id)


def on_update_posted(session: Session, event: UpdatePosted, *, base_url: str) -> None:
    """The update is posted in the incident's channels, and the header's next update moves."""
    update = session.get(StatusUpdate, event.update_id)
    if update is None:
        return
    incident = update.incident
    author = update.author.name if update.author else "Tocsin"
    for channel in channels.channels_of(session, incident.id):
        if channel.state not in (ChannelState.open.value, ChannelState.creating.value):
            continue
        if channel.remote_id:
            queue_post(
                session,
                channel.connection,
                Message(
                    text=update.body,
                    title=f"{update.visibility.capitalize()} update ({update.phase}) by {author}",
                    link=channels.incident_link(base_url, incident),
                ),
                channel_id=channel.remote_id,
            )
        channels.queue_sync(session, channel)
