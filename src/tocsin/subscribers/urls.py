"""The addresses subscriber messages link to (from `TOCSIN_BASE_URL`, or the page's own
address when it is served elsewhere)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tocsin.config import Settings
from tocsin.db import utcnow
from tocsin.statuspages import present
from tocsin.statuspages.models import StatusPage
from tocsin.subscribers import tokens
from tocsin.subscribers.models import Subscriber


def base(settings: Settings) -> str:
    return settings.base_url.rstrip("/")


def page_url(page: StatusPage, settings: Settings) -> str:
    """Where people read the page: its own address if it is served elsewhere."""
    return present.page_url(page, base(settings)).rstrip("/")


def unsubscribe_url(subscriber: Subscriber, settings: Settings) -> str:
    token = tokens.unsubscribe_token(settings.secret_key, subscriber.id, subscriber.link_salt)
    return f"{base(settings)}/status/{subscriber.page.slug}/unsubscribe/{token}"


def confirm_url(subscriber: Subscriber, settings: Settings) -> tuple[str, datetime]:
    hours = settings.subscriber_confirm_hours
    token = tokens.confirm_token(
        settings.secret_key, subscriber.id, subscriber.link_salt, hours=hours
    )
    expires = utcnow() + timedelta(hours=hours)
    return f"{base(settings)}/status/{subscriber.page.slug}/subscribe/confirm/{token}", expires


def documentation_url(page: StatusPage, settings: Settings) -> str:
    return f"{base(settings)}/status/{page.slug}/subscribe#webhooks"


def manage_url(page: StatusPage, settings: Settings) -> str:
    return f"{base(settings)}/status-pages/{page.id}/subscribers"


def scope_text(subscriber: Subscriber, *, pending: bool = False) -> str:
    scope = subscriber.pending_scope if pending else None
    if scope is not None:
        if scope.get("all"):
            return "all components"
        wanted = {int(i) for i in scope.get("component_ids", [])}
        names = [c.name for c in subscriber.page.components if c.id in wanted]
    elif subscriber.all_components:
        return "all components"
    else:
        names = [c.name for c in subscriber.components]
    return ", ".join(names) if names else "no components (they were removed)"


def mail_domain(settings: Settings) -> str:
    return settings.smtp_from.rpartition("@")[2] or "tocsin.invalid"
