"""Take docs/img/chat-settings.png and docs/img/chat-timeline.png: Settings → Chat with a
Matrix connection, and an incident whose room a real Synapse homeserver holds, with messages
pinned there with 📌 on its timeline.

Run from the repository root: `PYTHONPATH=. python scripts/chat_screenshots.py` (needs
Playwright, Debian's chromium and `make synapse`). It uses a throwaway SQLite database and a
throwaway homeserver on loopback.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from demo_server import demo_server, shoot
from sqlalchemy import select
from tests.chat.synapse import start_synapse

from tocsin.bootstrap import Container
from tocsin.catalog.models import Service, User
from tocsin.chat import connections, people
from tocsin.chat.models import ChatChannel, ChatConnection, ChatPin
from tocsin.db import transaction
from tocsin.definitions.models import Severity
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident


def _until(container: Container, what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        container.runner("shots").run_until_idle()
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise SystemExit(f"gave up waiting for {what}")


def main() -> None:
    with demo_server(outbound_allow_private=True) as (base, container):
        with transaction(container.sessionmaker) as db:
            connection = connections.create_connection(
                db,
                {
                    "name": "Acme Matrix",
                    "vendor": "matrix",
                    "base_url": "http://127.0.0.1:9",
                    "team": "tocsin.test",
                    "bot_user_id": "@tocsin:tocsin.test",
                    "channel_severities": ["SEV1", "SEV2"],
                    "archive_after_minutes": 2880,
                },
                settings=container.settings,
            )
            connection_id = connection.id
            tokens = connections.secrets_of(connection, container.settings)
        workdir = Path(tempfile.mkdtemp(prefix="tocsin-synapse-"))
        with start_synapse(
            workdir,
            appservice_url=f"{base}/chat/{connection_id}",
            as_token=tokens["as_token"],
            hs_token=tokens["hs_token"],
        ) as synapse:
            priya = synapse.register("priya")
            with transaction(container.sessionmaker) as db:
                found = db.get(ChatConnection, connection_id)
                assert found is not None
                connections.update_connection(
                    db, found, {"base_url": synapse.base_url}, settings=container.settings
                )
                user = db.scalar(select(User).where(User.email == "priya@example.com"))
                assert user is not None
                people.link(db, found, priya.user_id, user, via="email")
                sev1 = db.scalar(select(Severity).where(Severity.name == "SEV1"))
                checkout = db.scalar(select(Service).where(Service.name == "Checkout"))
                incident = incidents.declare(
                    db,
                    by=user,
                    title="Checkout payments failing",
                    severity_id=sev1.id if sev1 else None,
                    service_ids=[checkout.id] if checkout else [],
                    urgency="none",
                    links=[{"label": "Bridge", "url": "https://meet.example.com/inc-checkout"}],
                )
                incident_id, reference = incident.id, incident.reference

            def room() -> str | None:
                with container.sessionmaker() as db:
                    channel = db.scalar(
                        select(ChatChannel).where(ChatChannel.incident_id == incident_id)
                    )
                    return channel.remote_id if channel and channel.header_message_id else None

            room_id = _until(container, "the incident's room", room)
            priya.join(room_id)
            said = [
                priya.say(
                    room_id,
                    "Card authorisations fail since 14:05; the processor's status page is green",
                ),
                priya.say(room_id, "Rolling back payments-api 3.14 to 3.13"),
            ]
            for event_id in said:
                priya.react(room_id, event_id, "📌")
            priya.say(room_id, "!tocsin ack")

            def pinned() -> bool:
                with container.sessionmaker() as db:
                    pins = db.scalars(select(ChatPin)).all()
                    status = db.scalar(select(Incident.status).where(Incident.id == incident_id))
                    return len(pins) == len(said) and status == "acknowledged"

            _until(container, "the pins and the acknowledgement", pinned)
            shoot(
                base,
                {
                    "chat-settings.png": ("/settings/chat", False),
                    "chat-timeline.png": (f"/incidents/{reference}", False),
                },
                anchors={"chat-timeline.png": "section[aria-labelledby='timeline-title']"},
            )


if __name__ == "__main__":
    main()
