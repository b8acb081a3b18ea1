"""What a tracker's webhook tells: checked against the connection's secret, then applied."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import Settings
from tocsin.crypto import Undecryptable
from tocsin.errors import Unauthenticated, ValidationFailed
from tocsin.trackers import service
from tocsin.trackers.models import LinkState, TrackerConnection, TrackerKind, TrackerLink
from tocsin.trackers.vendors import VENDORS

BODY_MAX = 5_000_000


def _same_project(connection: TrackerConnection, payload: Any) -> bool:
    """False for an event about another repository or project than the connection's (a
    GitHub or GitLab webhook set on an organisation or group reaches every one of them, and
    issue numbers are per repository)."""
    if not isinstance(payload, dict):
        return False
    project = connection.project.lower()
    if connection.kind == TrackerKind.github.value:
        name = (payload.get("repository") or {}).get("full_name")
        return not isinstance(name, str) or name.lower() == project
    if connection.kind == TrackerKind.gitlab.value:
        about = payload.get("project") or {}
        names = {str(about.get("id", "")), str(about.get("path_with_namespace", "")).lower()}
        return not about or project in names
    return True


def receive(
    session: Session,
    connection: TrackerConnection,
    headers: Mapping[str, str],
    body: bytes,
    *,
    settings: Settings,
) -> int:
    """Apply a webhook's issue states to the follow-ups linked to them; how many there were.
    Unauthenticated unless the signature (or token) matches the connection's secret."""
    if not connection.webhook_secret_encrypted:
        raise Unauthenticated(
            f"{connection.name} has no webhook secret: set one in Settings → Issue trackers"
        )
    try:
        secret = service.vault(settings).decrypt(connection.webhook_secret_encrypted)
    except Undecryptable as exc:
        raise Unauthenticated(str(exc)) from exc
    vendor = VENDORS[connection.kind]
    if not vendor.verify(secret, headers, body):
        raise Unauthenticated("the webhook's signature does not match the connection's secret")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("the webhook's body is not JSON") from exc
    if not _same_project(connection, payload):
        return 0
    changed = 0
    for issue in vendor.webhook_issues(payload, base_url=connection.base_url):
        link = session.scalar(
            select(TrackerLink).where(
                TrackerLink.connection_id == connection.id,
                TrackerLink.key == issue.key,
                TrackerLink.state == LinkState.linked.value,
            )
        )
        if link is not None:
            service.apply_remote(session, link, issue, via="webhook")
            changed += 1
    return changed
