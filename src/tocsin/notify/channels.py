"""Channels are ports: each sends a PageMessage to one destination or raises DeliveryFailed.

Implementations: email over the configured SMTP relay (stdlib smtplib), Apprise (SMS, voice,
chat, push, generic webhooks) and Tocsin's own HMAC-signed JSON webhook. All pass the same
conformance tests (tests/notify/test_channels.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy.orm import Session

from tocsin import __version__
from tocsin.config import Settings
from tocsin.notify.messages import PageMessage
from tocsin.notify.models import ContactMethod
from tocsin.outbound import OutboundGuard, OutboundRefused

if TYPE_CHECKING:
    from apprise.plugins.base import NotifyBase

SIGNATURE_HEADER = "X-Tocsin-Signature"

log = structlog.get_logger("tocsin.notify")

# Apprise services whose URL names a server the user runs (so the host is a real host name
# to check); for the others the "host" part is an account id or token and Apprise talks to
# the vendor's public API.
SELF_HOSTED_SCHEMES = frozenset(
    {
        "json", "jsons", "xml", "xmls", "form", "forms", "ntfy", "ntfys", "mmost", "mmosts",
        "matrix", "matrixs", "gotify", "gotifys", "rocket", "rockets", "apprise", "apprises",
        "nctalk", "nctalks", "ncloud", "nclouds", "synology", "synologys", "signal", "signals",
    }
)  # fmt: skip
# Email goes through the email kind and the configured relay, never an arbitrary SMTP host.
REFUSED_APPRISE_SCHEMES = frozenset({"mailto", "mailtos", "ses"})


class DeliveryFailed(Exception):
    """A send did not go through; `reason` is shown to people (timeline, method page).

    `retryable` is False when trying again cannot help until someone changes the server's
    configuration: the delivery jobs then neither retry nor log each attempt. An HTTP answer
    gives its `status`, and `retry_after` (seconds) when the receiver asked to wait."""

    retryable = True

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class EmailNotConfigured(DeliveryFailed):
    """No SMTP relay is configured: no email can go until TOCSIN_SMTP_HOST is set."""

    retryable = False

    def __init__(self) -> None:
        super().__init__(
            "email is not configured on this server (set TOCSIN_SMTP_HOST to send email)"
        )


class WarnOnce:
    """A warning logged the first time it is called in a process, never again."""

    def __init__(self, event: str, detail: str) -> None:
        self.event, self.detail = event, detail
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        log.warning(self.event, detail=self.detail)

    def reset(self) -> None:
        """Warn again next time (for tests)."""
        with self._lock:
            self._done = False


# Said once per process (the first time an email cannot go), not once per email: a server
# without a relay would otherwise log a line for every page, notice and update it plans.
warn_email_not_configured = WarnOnce(
    "email.not_configured",
    "TOCSIN_SMTP_HOST is not set: emails (pages, shift notices, stakeholder updates, "
    "subscriber mail) fail at once, each with that reason, and are not sent; this is logged "
    "once per process",
)


@dataclass(frozen=True)
class Destination:
    target: str  # an email address, an Apprise URL or a webhook URL
    secret: str = ""  # the signing secret of a webhook
    label: str = ""


class Channel(Protocol):
    def send(self, message: PageMessage, destination: Destination) -> None:
        """Deliver or raise DeliveryFailed; never anything else for a failed delivery."""
        ...


# --- email --------------------------------------------------------------------------------


class EmailChannel:
    """Email through one configured relay (TOCSIN_SMTP_*), plain text so it reads on a phone."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def build(self, message: PageMessage, to: str) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = formataddr(("Tocsin", self.settings.smtp_from))
        mail["To"] = formataddr((message.recipient_name, to))
        domain = self.settings.smtp_from.rpartition("@")[2] or "tocsin.invalid"
        mail["Message-ID"] = (
            f"<{message.delivery_id}@{domain}>"
            if message.delivery_id
            else make_msgid(domain=domain)
        )
        mail["Auto-Submitted"] = "auto-generated"
        if message.reference:
            mail["X-Tocsin-Incident"] = message.reference
        mail.set_content(message.text())
        return mail

    def send(self, message: PageMessage, destination: Destination) -> None:
        self.transmit(self.build(message, destination.target))

    def transmit(self, mail: EmailMessage) -> None:
        """Send a ready-made mail to its To addresses through the relay (status page
        subscribers build their own, with HTML and List-Unsubscribe headers)."""
        cfg = self.settings
        if not cfg.smtp_host:
            warn_email_not_configured()
            raise EmailNotConfigured()
        recipients = str(mail["To"])
        timeout = cfg.notify_timeout_seconds
        try:
            if cfg.smtp_tls == "tls":
                context = ssl.create_default_context()
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    cfg.smtp_host, cfg.smtp_port, timeout=timeout, context=context
                )
            else:
                client = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=timeout)
            with client:
                if cfg.smtp_tls == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if cfg.smtp_username:
                    client.login(cfg.smtp_username, cfg.smtp_password)
                refused = client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"the mail server refused {recipients}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"mail server {cfg.smtp_host}:{cfg.smtp_port}: {exc}") from exc
        if refused:
            raise DeliveryFailed(f"the mail server refused {', '.join(refused)}")


# --- Apprise ------------------------------------------------------------------------------


def _apprise() -> Any:
    import apprise  # imported on first use: it loads ~100 plugins

    return apprise


def apprise_plugin(url: str) -> NotifyBase | None:
    """The Apprise plugin for this URL, or None if Apprise does not understand it."""
    apprise = _apprise()
    plugin: NotifyBase | None = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    return plugin


def apprise_scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def mask_apprise_url(url: str) -> str:
    """The URL with passwords and tokens masked (Apprise's privacy mode), options dropped."""
    plugin = apprise_plugin(url)
    if plugin is None:
        return apprise_scheme(url) + "://…"
    return str(plugin.url(privacy=True)).split("?", 1)[0]


def _looks_like_host(host: str) -> bool:
    return "." in host or ":" in host or host == "localhost"


def check_apprise_host(url: str, plugin: NotifyBase, guard: OutboundGuard) -> None:
    """Resolve and check the server a self-hosted Apprise URL names (raises OutboundRefused)."""
    host = str(getattr(plugin, "host", "") or "")
    port = getattr(plugin, "port", None)
    if apprise_scheme(url) in SELF_HOSTED_SCHEMES:
        guard.check_host(host, port)
    elif host and _looks_like_host(host):
        try:
            guard.check_host(host, port)
        except OutboundRefused as exc:
            if "does not resolve" not in exc.reason:
                raise


class AppriseChannel:
    """Any service Apprise supports; the URL's own host is checked before Apprise connects."""

    def __init__(self, guard: OutboundGuard, timeout: float) -> None:
        self.guard = guard
        self.timeout = timeout

    def send(self, message: PageMessage, destination: Destination) -> None:
        plugin = apprise_plugin(destination.target)
        if plugin is None:
            raise DeliveryFailed("Apprise does not understand this URL")
        if apprise_scheme(destination.target) in REFUSED_APPRISE_SCHEMES:
            raise DeliveryFailed("email goes through an email contact method")
        try:
            check_apprise_host(destination.target, plugin, self.guard)
        except OutboundRefused as exc:
            raise DeliveryFailed(exc.reason) from exc
        plugin.socket_connect_timeout = self.timeout
        plugin.socket_read_timeout = self.timeout
        apprise = _apprise()
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
            try:
                ok = plugin.notify(body=message.text(), title=message.headline)
            except Exception as exc:  # a plugin bug must not take the delivery job down
                raise DeliveryFailed(f"{type(plugin).__name__}: {exc}") from exc
            captured = log.getvalue().strip()
        if not ok:
            detail = captured.splitlines()[-1] if captured else "Apprise reported a failure"
            raise DeliveryFailed(detail[:500])


# --- Tocsin's signed webhook --------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>." + body, hex; what a receiver recomputes."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return mac.hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={sign(secret, stamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver does (also a reference for docs/notifications.md)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), sign(secret, stamp, body))


class WebhookChannel:
    """POST the page as JSON with an X-Tocsin-Signature header; any 2xx is a delivery."""

    def __init__(self, guard: OutboundGuard, timeout: float) -> None:
        self.guard = guard
        self.timeout = timeout

    def send(self, message: PageMessage, destination: Destination) -> None:
        body = json.dumps(message.as_json(), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Tocsin/{__version__}",
            "X-Tocsin-Event": message.kind,
            SIGNATURE_HEADER: signature_header(destination.secret, body),
        }
        self.post(destination.target, body, headers)

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout: float | None = None
    ) -> int:
        """POST `body` to a guarded URL; the status code if it is 2xx, else DeliveryFailed
        (a redirect is a failure: following it could lead past the outbound guard)."""
        parts = urlsplit(url)
        try:
            self.guard.check_host(parts.hostname or "", parts.port)
        except OutboundRefused as exc:
            raise DeliveryFailed(exc.reason) from exc
        try:
            response = httpx.post(
                url,
                content=body,
                headers=headers,
                timeout=self.timeout if timeout is None else timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{parts.hostname}: {exc or type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(
                f"{parts.hostname} answered HTTP {response.status_code}",
                status=response.status_code,
                retry_after=retry_after(response.headers.get("retry-after")),
            )
        return response.status_code


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date), None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


# --- the set wired at the composition root ------------------------------------------------


# Where a contact method of a kind whose address is not in its row alone sends (a chat
# connection's bot, and the person's linked account there): read in the delivery's
# transaction by the domain that knows it, handed over by the composition root.
Prepare = Callable[[Session, ContactMethod, Settings], Destination]


@dataclass
class Channels:
    by_kind: dict[str, Channel]
    guard: OutboundGuard
    prepare: dict[str, Prepare] = field(default_factory=dict)

    def for_kind(self, kind: str) -> Channel:
        try:
            return self.by_kind[kind]
        except KeyError:
            raise DeliveryFailed(f"no channel for contact methods of kind {kind!r}") from None


def build_channels(settings: Settings) -> Channels:
    guard = OutboundGuard.from_settings(settings)
    timeout = settings.notify_timeout_seconds
    return Channels(
        by_kind={
            "email": EmailChannel(settings),
            "apprise": AppriseChannel(guard, timeout),
            "webhook": WebhookChannel(guard, timeout),
        },
        guard=guard,
    )
