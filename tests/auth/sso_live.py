"""Tocsin served on loopback for the single sign-on tests (allowed to reach loopback identity
providers), and what the tests read back: accounts, teams, the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import free_port, uvicorn_in_thread
from tocsin.app import create_app
from tocsin.audit.models import AuditRecord
from tocsin.bootstrap import Container, build
from tocsin.catalog.models import User
from tocsin.config import Settings


@dataclass
class Live:
    container: Container
    settings: Settings
    url: str

    def session(self) -> Session:
        return self.container.sessionmaker()

    def user(self, email: str) -> dict[str, Any] | None:
        """The account with `email`: its role and teams, or None."""
        with self.session() as db:
            user = db.scalar(select(User).where(User.email == email))
            if user is None:
                return None
            return {
                "id": user.id,
                "name": user.name,
                "role": user.role,
                "teams": sorted(t.name for t in user.teams),
            }

    def audit(self, action: str) -> list[dict[str, Any]]:
        """The audit records of `action`, oldest first."""
        with self.session() as db:
            rows = db.scalars(
                select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
            ).all()
            return [
                {
                    "actor_id": r.actor_id,
                    "via": r.via,
                    "address": r.address,
                    "outcome": r.outcome,
                    "target": r.target,
                    "detail": json.loads(r.detail),
                }
                for r in rows
            ]


@contextmanager
def serve(settings: Settings) -> Iterator[Live]:
    """Tocsin on a free loopback port; stopped when the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    live = settings.model_copy(update={"base_url": url, "outbound_allow_private": True})
    container = build(live)
    try:
        application = create_app(live, container=container)
        config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
        with uvicorn_in_thread(config):
            yield Live(container, live, url)
    finally:
        container.close()
