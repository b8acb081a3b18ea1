"""Integrations, rules, maintenance windows and alert settings: the service functions that
change how events become alerts. Each runs in the caller's transaction.

Applying events themselves is apply.py's job (run by the processor, see pipeline.py)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.alerts.models import Integration, IntegrationType
from tocsin.catalog.models import Service
from tocsin.errors import NotFound


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_integration(
    session: Session, *, service_id: int, name: str, type: str = IntegrationType.pagerduty.value
) -> tuple[Integration, str]:
    """A new integration for a service; returns it and its key (shown once, stored hashed)."""
    service = session.get(Service, service_id)
    if service is None:
        raise NotFound(f"no service with id {service_id}", field="service_id")
    key = secrets.token_hex(16)  # 32 characters, like a PagerDuty integration key
    integration = Integration(
        service=service,
        name=v.text(name, "name", max_len=120, required=True),
        type=v.one_of(type, "type", [t.value for t in IntegrationType]),
        key_hash=_digest(key),
        key_prefix=key[:8],
    )
    session.add(integration)
    session.flush()
    return integration, key


def integration_by_key(session: Session, key: str) -> Integration | None:
    if not key:
        return None
    found = session.scalar(select(Integration).where(Integration.key_hash == _digest(key)))
    if found is None or found.disabled_at is not None:
        return None
    return found
