"""Tracker connections and follow-ups' issues: the only way to change either.

Nothing here talks to a tracker. Creating or linking an issue writes the link in the caller's
transaction with a job (`sync.PUSH_JOB`) that does the HTTP after commit; the job's outcome
and every state the tracker reports later come back through `linked`, `failed` and
`apply_remote`, which mark the follow-up done or open again through the incidents domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.crypto import Vault
from tocsin.db import utcnow
from tocsin.errors import Conflict, NotFound, ValidationFailed
from tocsin.incidents.actions import update_action_item
from tocsin.incidents.models import ActionItem, ActionStatus
from tocsin.incidents.timeline import actor_name, record
from tocsin.jobs.queue import enqueue
from tocsin.outbound import OutboundGuard, OutboundRefused
from tocsin.trackers.models import LinkState, TrackerConnection, TrackerKind, TrackerLink
from tocsin.trackers.ports import RemoteIssue
from tocsin.trackers.vendors import VENDORS, label

PUSH_JOB = "trackers.push"
SECRET_MAX = 4096
TIMELINE_KIND = "action_item_tracker"
UNFINISHED = (ActionStatus.open.value, ActionStatus.in_progress.value)


def vault(settings: Settings) -> Vault:
    """The vault tracker credentials are encrypted with."""
    return Vault.from_settings(settings, "trackers")


# --- connections ----------------------------------------------------------------------------


def list_connections(session: Session) -> Sequence[TrackerConnection]:
    return session.scalars(select(TrackerConnection).order_by(TrackerConnection.name)).all()


def get_connection(session: Session, connection_id: int) -> TrackerConnection:
    connection = session.get(TrackerConnection, connection_id)
    if connection is None:
        raise NotFound(f"no issue tracker connection with id {connection_id}")
    return connection


def _base_url(value: Any, kind: str, settings: Settings) -> str:
    given = value if isinstance(value, str) and value.strip() else VENDORS[kind].default_url
    if not given:
        raise ValidationFailed(
            "base_url is required (your Jira site: https://example.atlassian.net)",
            field="base_url",
        )
    url = v.url(given, "base_url").rstrip("/")
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username:
        raise ValidationFailed(
            "base_url is a site address without query or login", field="base_url"
        )
    try:
        OutboundGuard.from_settings(settings).check_host(parts.hostname or "", parts.port)
    except OutboundRefused as exc:
        raise ValidationFailed(f"base_url: {exc.reason}", field="base_url") from exc
    return url


def _apply(
    session: Session, connection: TrackerConnection, data: dict[str, Any], settings: Settings,
    *, new: bool,
) -> None:  # fmt: skip
    """Validate `data` onto `connection`; a credential or secret left out (or empty when
    editing) keeps the stored one."""
    known = {"name", "kind", "base_url", "project", "account", "issue_type", "credential"}
    unknown = set(data) - known - {"webhook_secret", "clear_webhook_secret"}
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    if new or "kind" in data:
        connection.kind = v.one_of(data.get("kind"), "kind", [k.value for k in TrackerKind])
    vendor = VENDORS[connection.kind]
    if new or "name" in data:
        name = v.text(data.get("name"), "name", max_len=120, required=True)
        clash = session.scalar(select(TrackerConnection).where(TrackerConnection.name == name))
        if clash is not None and clash is not connection:
            raise Conflict(f"a tracker connection named {name!r} exists", field="name")
        connection.name = name
    if new or "base_url" in data or "kind" in data:
        given = data.get("base_url", None if new else connection.base_url)
        connection.base_url = _base_url(given, connection.kind, settings)
    if new or "project" in data or "kind" in data:
        given_project = data.get("project", None if new else connection.project)
        project = v.text(given_project, "project", max_len=255, required=True)
        if not vendor.project_re.match(project):
            raise ValidationFailed(
                f"project: for {vendor.label}, the {vendor.project_label}", field="project"
            )
        connection.project = project
    if new or "account" in data or "kind" in data:
        account = data.get("account", connection.account if not new else "")
        connection.account = v.email(account, "account") if vendor.needs_account else ""
    if "issue_type" in data:
        connection.issue_type = v.text(data["issue_type"], "issue_type", max_len=60)
    secrets = vault(settings)
    credential = v.text(data.get("credential"), "credential", max_len=SECRET_MAX)
    if new and not credential:
        raise ValidationFailed("credential (the API token or key) is required", field="credential")
    if credential:
        connection.credential_encrypted = secrets.encrypt(credential)
    secret = v.text(data.get("webhook_secret"), "webhook_secret", max_len=SECRET_MAX)
    if secret:
        connection.webhook_secret_encrypted = secrets.encrypt(secret)
    elif data.get("clear_webhook_secret") is True:
        connection.webhook_secret_encrypted = ""
    connection.updated_at = utcnow()


def create_connection(
    session: Session, data: dict[str, Any], *, settings: Settings
) -> TrackerConnection:
    """Connect a tracker; its credential and webhook secret are stored encrypted."""
    connection = TrackerConnection(webhook_secret_encrypted="", account="", issue_type="")
    _apply(session, connection, data, settings, new=True)
    session.add(connection)
    session.flush()
    return connection


def update_connection(
    session: Session, connection: TrackerConnection, data: dict[str, Any], *, settings: Settings
) -> TrackerConnection:
    """Change a connection; an empty credential or webhook secret keeps the stored one."""
    _apply(session, connection, data, settings, new=False)
    session.flush()
    return connection


def delete_connection(session: Session, connection: TrackerConnection) -> None:
    """Forget a connection and its links (the issues themselves stay in the tracker)."""
    session.delete(connection)
    session.flush()


# --- a follow-up's issue ----------------------------------------------------------------


def link_of(session: Session, item: ActionItem) -> TrackerLink | None:
    return session.scalar(select(TrackerLink).where(TrackerLink.action_item_id == item.id))


def _start(
    session: Session, item: ActionItem, connection: TrackerConnection, state: str, key: str
) -> TrackerLink:
    """A link in `state` with its job; a failed earlier try is replaced, a live one kept."""
    link = link_of(session, item)
    if link is not None and link.state == LinkState.linked.value:
        raise Conflict(
            f"“{item.title}” is already linked to {link.key} in {link.connection.name}; "
            "unlink it first"
        )
    if link is not None and link.state in (LinkState.creating.value, LinkState.linking.value):
        raise Conflict(f"“{item.title}” is already being {link.state.removesuffix('ing')}ed "
                       f"in {link.connection.name}")  # fmt: skip
    now = utcnow()
    if link is None:
        link = TrackerLink(action_item=item, generation=1, created_at=now)
        session.add(link)
    else:
        link.generation += 1
    link.connection = connection
    link.state, link.key, link.url = state, key, ""
    link.remote_state, link.remote_closed, link.error, link.attempts = "", None, "", 0
    link.updated_at, link.synced_at = now, None
    session.flush()
    payload = {"link_id": link.id, "generation": link.generation}
    enqueue(session, PUSH_JOB, payload, key=f"{PUSH_JOB}:{link.id}:{link.generation}:0")
    return link


def create_issue(
    session: Session, item: ActionItem, connection: TrackerConnection, *, by: User | None
) -> TrackerLink:
    """Ask for the follow-up to be created as an issue (a job does it after commit)."""
    link = _start(session, item, connection, LinkState.creating.value, "")
    record(
        session,
        item.incident,
        TIMELINE_KIND,
        f"{actor_name(by)} asked for “{item.title}” to be created in {connection.name} "
        f"({label(connection.kind)})",
        by=by,
        new={"action_item_id": item.id, "tracker": connection.name},
    )
    return link


def link_issue(
    session: Session, item: ActionItem, connection: TrackerConnection, ref: str, *,
    by: User | None,
) -> TrackerLink:  # fmt: skip
    """Link an existing issue, by key, number or URL; a job looks it up before it holds."""
    given = v.text(ref, "issue", max_len=2048, required=True)
    try:
        key = VENDORS[connection.kind].parse_ref(
            given, base_url=connection.base_url, project=connection.project
        )
    except ValueError as exc:
        raise ValidationFailed(f"issue: {exc}", field="issue") from exc
    link = _start(session, item, connection, LinkState.linking.value, key)
    record(
        session,
        item.incident,
        TIMELINE_KIND,
        f"{actor_name(by)} linked “{item.title}” to {key} in {connection.name}",
        by=by,
        new={"action_item_id": item.id, "tracker": connection.name, "issue": key},
    )
    return link


def unlink(session: Session, item: ActionItem, *, by: User | None) -> None:
    """Forget the follow-up's issue (the issue stays in the tracker); a pending job finds
    its link gone and does nothing."""
    link = link_of(session, item)
    if link is None:
        raise NotFound(f"“{item.title}” has no issue to unlink")
    what = link.key or "its pending issue"
    record(
        session,
        item.incident,
        TIMELINE_KIND,
        f"{actor_name(by)} unlinked “{item.title}” from {what} in {link.connection.name}",
        by=by,
        old={"issue": link.key},
    )
    session.delete(link)
    session.flush()


def linked(session: Session, link: TrackerLink, issue: RemoteIssue) -> None:
    """The job created or found the issue: the link holds, and the issue's state applies."""
    item = link.action_item
    was = link.state
    link.state, link.key, link.error = LinkState.linked.value, issue.key, ""
    verb = "created as" if was == LinkState.creating.value else "linked to"
    record(
        session,
        item.incident,
        TIMELINE_KIND,
        f"“{item.title}” {verb} {issue.key} in {link.connection.name} ({issue.state})",
        by=None,
        new={"action_item_id": item.id, "issue": issue.key, "url": issue.url},
    )
    apply_remote(session, link, issue, via="the link")


def failed(session: Session, link: TrackerLink, message: str) -> None:
    """Creating or linking gave up: the follow-up keeps its state in Tocsin; the link says why."""
    item = link.action_item
    doing = "Creating" if link.state == LinkState.creating.value else f"Linking {link.key}"
    link.state, link.error, link.updated_at = LinkState.failed.value, message, utcnow()
    record(
        session,
        item.incident,
        TIMELINE_KIND,
        f"{doing} “{item.title}” in {link.connection.name} failed: {message}",
        by=None,
    )
    session.flush()


def apply_remote(session: Session, link: TrackerLink, issue: RemoteIssue, *, via: str) -> bool:
    """Record what the tracker says of the issue. When it becomes closed the follow-up is
    done; when it is reopened a done follow-up is open again. Only a change in the tracker
    acts, so a follow-up reopened in Tocsin is not closed again by the next poll. True if the
    follow-up changed."""
    before = link.remote_closed
    link.remote_state, link.remote_closed = issue.state[:120], issue.closed
    link.url = issue.url or link.url
    now = utcnow()
    link.synced_at = link.updated_at = now
    if link.state == LinkState.linked.value:
        link.error = ""
    item = link.action_item
    if before == issue.closed:
        session.flush()
        return False
    where = f"{link.connection.name}'s {issue.key}"
    change: str | None = None
    if issue.closed and item.status in UNFINISHED:
        change, summary = ActionStatus.done.value, f"{where} is {issue.state} ({via})"
    elif not issue.closed and before and item.status == ActionStatus.done.value:
        change, summary = ActionStatus.open.value, f"{where} was reopened ({issue.state}, {via})"
    if change is None:
        session.flush()
        return False
    outcome = "open again" if change == ActionStatus.open.value else "done"
    record(
        session, item.incident, TIMELINE_KIND, f"{summary}: “{item.title}” is {outcome}",
        by=None, field="status", old=item.status, new=change,
    )  # fmt: skip
    update_action_item(session, item, {"status": change}, by=None)
    return True


def attempting(session: Session, link: TrackerLink) -> None:
    """A job is about to try creating or looking up the issue: count the try."""
    link.attempts += 1
    link.updated_at = utcnow()
    session.flush()


def retrying(session: Session, link: TrackerLink, message: str, when: datetime) -> None:
    """A try failed in a way that may pass: say so on the link and try again at `when`."""
    link.error = f"{message}; trying again at {when:%H:%M:%S} UTC"
    link.updated_at = utcnow()
    session.flush()
    enqueue(
        session,
        PUSH_JOB,
        {"link_id": link.id, "generation": link.generation},
        run_at=when,
        key=f"{PUSH_JOB}:{link.id}:{link.generation}:{link.attempts}",
    )


def sync_failed(session: Session, link: TrackerLink, message: str) -> None:
    """Reading a linked issue's state failed: the link holds and says why (the next poll
    tries again)."""
    link.error = f"reading its state failed: {message}"
    link.updated_at = utcnow()
    session.flush()
