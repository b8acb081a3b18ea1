"""Linear, GraphQL API at /graphql: a personal API key in the Authorization header."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from tocsin.trackers.ports import Http, RemoteIssue, TrackerError, retry_after

IDENTIFIER_RE = re.compile(r"^[A-Z][A-Z0-9]*-[1-9][0-9]*$")
_URL_RE = re.compile(r"/issue/([A-Za-z][A-Za-z0-9]*-[1-9][0-9]*)(?:/[^?#]*)?(?:[?#].*)?$")
# Linear's states of these types are finished.
CLOSED_TYPES = ("completed", "canceled")
# A webhook older than this is refused (Linear's advice: it limits replays).
WEBHOOK_MAX_AGE_SECONDS = 60

_FIELDS = "id identifier url state { type name }"
CREATE = (
    "mutation IssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) "
    f"{{ success issue {{ {_FIELDS} }} }} }}"
)
READ = f"query Issue($id: String!) {{ issue(id: $id) {{ {_FIELDS} }} }}"


def _issue(node: Any) -> RemoteIssue:
    try:
        state = node.get("state") or {}
        kind = str(state.get("type") or "")
        return RemoteIssue(
            key=str(node["identifier"]), url=str(node.get("url") or ""),
            state=str(state.get("name") or kind), closed=kind in CLOSED_TYPES,
        )  # fmt: skip
    except (KeyError, TypeError, AttributeError) as exc:
        raise TrackerError("Linear answered without the issue's identifier") from exc


class LinearClient:
    def __init__(self, http_for: Any, *, team: str, token: str) -> None:
        self.team = team
        self.http: Http = http_for("Linear", {"Authorization": token})

    def _query(self, query: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
        response = self.http.send("POST", "/graphql", body={"query": query, "variables": variables})
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors and response.status_code < 500 and response.status_code != 429:
            raise _graphql_error(errors, response.headers.get("Retry-After"), what)
        self.http.check(response, what)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise TrackerError(f"Linear answered the request to {what} without data")
        return data

    def create(self, title: str, description: str) -> RemoteIssue:
        what = f"create an issue in team {self.team}"
        variables = {"input": {"teamId": self.team, "title": title, "description": description}}
        created = self._query(CREATE, variables, what).get("issueCreate") or {}
        if not created.get("success") or not created.get("issue"):
            raise TrackerError(f"Linear did not {what}")
        return _issue(created["issue"])

    def fetch(self, key: str) -> RemoteIssue:
        what = f"read issue {key}"
        issue = self._query(READ, {"id": key}, what).get("issue")
        if not issue:
            raise TrackerError(f"Linear found nothing to {what}", status=404)
        return _issue(issue)


def _graphql_error(errors: Any, retry_header: str | None, what: str) -> TrackerError:
    """A TrackerError from GraphQL errors: Linear answers them with HTTP 200 or 400 and says
    what kind in extensions.code."""
    first = errors[0] if isinstance(errors, list) and errors else {}
    first = first if isinstance(first, dict) else {}
    code = str((first.get("extensions") or {}).get("code") or "").upper()
    message = str(first.get("message") or "")[:300]
    if code == "RATELIMITED":
        wait = retry_after(retry_header)
        return TrackerError(
            "Linear is rate limiting Tocsin (RATELIMITED)", retryable=True, retry_after=wait,
            status=429,
        )  # fmt: skip
    if "AUTHENTICATION" in code or code == "UNAUTHENTICATED":
        return TrackerError(
            f"Linear refused the API key ({message or code}): check the connection's key in "
            "Settings → Issue trackers",
            status=401,
        )
    if "not found" in message.lower() or code == "NOT_FOUND":
        return TrackerError(f"Linear found nothing to {what} ({message})", status=404)
    return TrackerError(f"Linear refused to {what} ({message or code})", status=400)


def parse_ref(text: str, *, base_url: str, project: str) -> str:
    """ENG-7 from ENG-7 or the issue's URL (…/issue/ENG-7/some-title)."""
    text = text.strip()
    found = _URL_RE.search(text) if "/" in text else None
    identifier = (found.group(1) if found else text).upper()
    if not IDENTIFIER_RE.match(identifier):
        raise ValueError("a Linear issue is named by its identifier (ENG-7) or its URL")
    return identifier


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Linear-Signature: hex HMAC-SHA256 of the body; the body's webhookTimestamp (ms) must
    be within a minute of now."""
    given = headers.get("linear-signature", "")
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), digest.encode()):
        return False
    try:
        stamp = json.loads(body).get("webhookTimestamp")
        return abs(time.time() - float(stamp) / 1000) <= WEBHOOK_MAX_AGE_SECONDS
    except (ValueError, TypeError, AttributeError):
        return False


def webhook_issues(payload: Any, *, base_url: str) -> list[RemoteIssue]:
    """The issue of an Issue event (create, update; a removed issue changes nothing here)."""
    if not isinstance(payload, dict) or payload.get("type") != "Issue":
        return []
    if payload.get("action") == "remove" or not isinstance(payload.get("data"), dict):
        return []
    try:
        return [_issue(payload["data"])]
    except TrackerError:
        return []
