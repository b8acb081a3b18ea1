"""The port every tracker client implements, what it returns, and the one HTTP helper.

Clients run in the job runner's I/O threads (jobs.registry.Send): they never touch the
database and bound each request with the connection's timeout. Every request goes through
the outbound guard first. A tracker's answer becomes either a `RemoteIssue` or a
`TrackerError` whose message a person can act on, saying whether trying again may help.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from tocsin.outbound import OutboundGuard, OutboundRefused

DETAIL_MAX = 300


@dataclass(frozen=True)
class RemoteIssue:
    """An issue as the tracker describes it."""

    key: str  # PROJ-12, 42, ENG-7: what people call it
    url: str  # where a person opens it
    state: str  # the tracker's word: "In Progress", "open", "closed", "Done"
    closed: bool  # done (or closed, or cancelled) in the tracker


class TrackerError(Exception):
    """A tracker refused or failed a request; `retryable` if trying again later may work."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.timed_out = timed_out
        self.retry_after = retry_after
        self.status = status


class TrackerClient(Protocol):
    """What Tocsin asks of a tracker: create an issue in the connection's project, and read
    one by its key."""

    def create(self, title: str, description: str) -> RemoteIssue: ...

    def fetch(self, key: str) -> RemoteIssue: ...


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay seconds or an HTTP date."""
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
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _detail(response: httpx.Response) -> str:
    """The tracker's own explanation from an error body, short (Jira's errorMessages and
    errors, GitHub's and GitLab's message or error)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return response.text.strip()[:DETAIL_MAX]
    parts: list[str] = []
    if isinstance(body, dict):
        for name in ("errorMessages", "message", "error", "error_description"):
            value = body.get(name)
            if isinstance(value, list):
                parts.extend(str(v) for v in value)
            elif isinstance(value, str | dict):
                parts.append(str(value))
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts.extend(f"{k}: {v}" for k, v in errors.items())
    return "; ".join(parts)[:DETAIL_MAX]


@dataclass(frozen=True)
class Http:
    """Requests to one tracker: guarded, bounded, never following redirects (a redirect
    could lead past the guard)."""

    vendor: str  # "Jira", for messages
    base_url: str
    headers: dict[str, str]
    guard: OutboundGuard
    timeout: float

    def send(self, method: str, path: str, *, body: Any = None) -> httpx.Response:
        """The tracker's response, whatever its status; TrackerError if none came."""
        url = self.base_url.rstrip("/") + path
        parts = urlsplit(url)
        try:
            self.guard.check_host(parts.hostname or "", parts.port)
        except OutboundRefused as exc:
            raise TrackerError(f"{self.vendor} at {parts.hostname}: {exc.reason}") from exc
        try:
            return httpx.request(
                method,
                url,
                json=body,
                headers={"Accept": "application/json", **self.headers},
                timeout=self.timeout,
                follow_redirects=False,
            )
        except httpx.TimeoutException as exc:
            raise TrackerError(
                f"{self.vendor} did not answer within {self.timeout:g} s",
                retryable=True,
                timed_out=True,
            ) from exc
        except httpx.HTTPError as exc:
            raise TrackerError(
                f"could not reach {self.vendor} at {parts.hostname}: {exc}", retryable=True
            ) from exc

    def call(self, method: str, path: str, *, body: Any = None, what: str) -> Any:
        """The JSON of a 2xx answer; otherwise TrackerError saying what went wrong."""
        response = self.send(method, path, body=body)
        self.check(response, what)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise TrackerError(f"{self.vendor} answered {what} with something not JSON") from exc

    def check(self, response: httpx.Response, what: str) -> None:
        """Raise TrackerError for anything but a 2xx answer."""
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = _detail(response)
        said = f" ({detail})" if detail else ""
        vendor = self.vendor
        # GitHub answers a rate limit with 403 as well: no requests left, or a secondary
        # limit with Retry-After.
        limited = response.headers.get("x-ratelimit-remaining") == "0" or (
            "retry-after" in response.headers
        )
        if status == 429 or (status == 403 and limited):
            wait = retry_after(response.headers.get("Retry-After"))
            if wait is None and response.headers.get("x-ratelimit-reset", "").isdigit():
                reset = float(response.headers["x-ratelimit-reset"])
                wait = max(0.0, reset - datetime.now(UTC).timestamp())
            raise TrackerError(
                f"{vendor} is rate limiting Tocsin (HTTP {status})"
                + (f"; it asked to wait {wait:g} s" if wait is not None else ""),
                retryable=True,
                retry_after=wait,
                status=status,
            )
        if status == 401:
            raise TrackerError(
                f"{vendor} refused the credentials (HTTP 401){said}: check the connection's "
                "token in Settings → Issue trackers",
                status=status,
            )
        if status == 403:
            raise TrackerError(
                f"{vendor} does not allow the connection's account to {what} (HTTP 403){said}",
                status=status,
            )
        if status == 404:
            raise TrackerError(
                f"{vendor} found nothing to {what} (HTTP 404){said}: check that it exists "
                "and that the connection's account can see it",
                status=status,
            )
        if status >= 500:
            raise TrackerError(
                f"{vendor} failed (HTTP {status}){said}", retryable=True, status=status
            )
        if 300 <= status < 400:
            raise TrackerError(
                f"{vendor} redirected the request to {what} (HTTP {status}), which Tocsin does "
                "not follow: check the connection's base URL",
                status=status,
            )
        raise TrackerError(f"{vendor} refused to {what} (HTTP {status}){said}", status=status)
