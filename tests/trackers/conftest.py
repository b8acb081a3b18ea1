"""Trackers' tests run against the loopback server of fake.py, with loopback allowed by
TOCSIN_OUTBOUND_ALLOW_PRIVATE as for every test that sends to a local receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.trackers import fake as vendors
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.incidents import actions
from tocsin.incidents import service as incidents
from tocsin.incidents.models import ActionItem

CONNECTIONS: dict[str, dict[str, Any]] = {
    "jira": {
        "project": vendors.JIRA_PROJECT,
        "account": vendors.JIRA_EMAIL,
        "credential": vendors.JIRA_TOKEN,
    },
    "github": {"project": vendors.GITHUB_REPO, "credential": vendors.GITHUB_TOKEN},
    "gitlab": {"project": vendors.GITLAB_PROJECT, "credential": vendors.GITLAB_TOKEN},
    "linear": {"project": vendors.LINEAR_TEAM, "credential": vendors.LINEAR_KEY},
}
KINDS = list(CONNECTIONS)
WEBHOOK_SECRET = "whsec-correct-horse"


@pytest.fixture
def tracker() -> Iterator[vendors.Fake]:
    fake, server = vendors.serve()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "outbound_allow_private": True,
            "tracker_retry_base_seconds": 0.0,
            "tracker_timeout_seconds": 0.5,
            "tracker_attempts": 3,
            "base_url": "http://tocsin.test",
        }
    )


def connect(api: TestClient, tracker: vendors.Fake, kind: str, **changes: Any) -> dict[str, Any]:
    """A connection of `kind` to the fake tracker, made through the API."""
    body = {
        "name": f"{kind} tracker",
        "kind": kind,
        "base_url": tracker.url,
        "webhook_secret": WEBHOOK_SECRET,
        **CONNECTIONS[kind],
        **changes,
    }
    response = api.post("/api/v1/trackers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def follow_up(
    db: Session, by: User, title: str = "Add failover for the payment provider"
) -> ActionItem:
    incident = incidents.declare(db, by=by, title="Payments failing")
    item = actions.add_action_item(
        db, incident, title=title, description="The provider went down for 40 minutes.",
        kind="follow_up", by=by,
    )  # fmt: skip
    db.commit()
    return item


def run_jobs(container: Container) -> int:
    return container.runner(name="test").run_until_idle()
