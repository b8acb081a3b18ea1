"""Checking a subscription request (an address and a scope) without writing anything."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from tocsin import validation
from tocsin.errors import Conflict, ValidationFailed
from tocsin.outbound import OutboundGuard, OutboundRefused
from tocsin.statuspages.models import StatusPage
from tocsin.subscribers.models import SubscriberKind

MAX_COMPONENTS = 500


def address_hash(kind: str, address: str) -> str:
    return hashlib.sha256(f"{kind}:{address}".encode()).hexdigest()


@dataclass(frozen=True)
class Request:
    """A checked subscription request: one address and the scope asked for."""

    kind: str
    address: str
    component_ids: tuple[int, ...]  # empty: the whole page

    @property
    def hash(self) -> str:
        return address_hash(self.kind, self.address)

    def scope(self) -> dict[str, object]:
        return {"all": not self.component_ids, "component_ids": list(self.component_ids)}


def check_email(value: object) -> str:
    raw = validation.text(value, "email", max_len=254, required=True)
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(f"email is not a valid address: {exc}", field="email") from exc
    return checked.normalized.lower()


def check_endpoint(value: object, guard: OutboundGuard) -> str:
    url = validation.url(value, "endpoint")
    if any(ch.isspace() for ch in url):
        raise ValidationFailed("endpoint must not contain spaces", field="endpoint")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed("endpoint has an invalid port", field="endpoint") from exc
    try:
        guard.check_host(parts.hostname or "", port)
    except OutboundRefused as exc:
        raise ValidationFailed(f"endpoint: {exc.reason}", field="endpoint") from exc
    return url


def check_components(
    session: Session, page: StatusPage, codes: list[str] | tuple[str, ...]
) -> tuple[int, ...]:
    """Public component ids of `page` to internal ids, in page order; unknown ones refused."""
    if len(codes) > MAX_COMPONENTS:
        raise ValidationFailed("too many components", field="component_ids")
    wanted = []
    for code in codes:
        if not isinstance(code, str) or not code.strip() or len(code) > 64:
            raise ValidationFailed("component_ids must be component ids", field="component_ids")
        wanted.append(code.strip())
    if not wanted:
        return ()
    found = {c.public_id: c for c in page.components}
    unknown = [code for code in dict.fromkeys(wanted) if code not in found]
    if unknown:
        raise ValidationFailed(
            f"{page.name} has no component {', '.join(repr(u) for u in unknown[:5])}",
            field="component_ids",
        )
    chosen = set(wanted)
    return tuple(c.id for c in page.components if c.public_id in chosen)


def check_request(
    session: Session,
    page: StatusPage,
    *,
    email: str = "",
    endpoint: str = "",
    component_ids: list[str] | tuple[str, ...] = (),
    guard: OutboundGuard,
) -> Request:
    """Validate a subscription request without writing anything."""
    if not page.allow_subscribers:
        raise Conflict(f"{page.name} does not take subscribers")
    email, endpoint = (email or "").strip(), (endpoint or "").strip()
    if email and endpoint:
        raise ValidationFailed("give an email address or a webhook URL, not both", field="email")
    if not email and not endpoint:
        raise ValidationFailed("give an email address or a webhook URL", field="email")
    ids = check_components(session, page, list(component_ids))
    if email:
        return Request(SubscriberKind.email.value, check_email(email), ids)
    return Request(SubscriberKind.webhook.value, check_endpoint(endpoint, guard), ids)
