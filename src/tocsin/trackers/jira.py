"""Jira Cloud, REST API v3: basic auth with the account's email and an API token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tocsin.trackers.ports import Http, RemoteIssue, TrackerError

KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]*-[1-9][0-9]*$")
_BROWSE_RE = re.compile(r"/browse/([A-Za-z][A-Za-z0-9_]*-[1-9][0-9]*)/?(?:[?#].*)?$")


def _adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: a paragraph per blank-line block
    (a text node may not be empty, so an empty text is an empty paragraph)."""
    blocks = [b for b in text.split("\n\n") if b.strip()]
    content = [{"type": "paragraph", "content": [{"type": "text", "text": b}]} for b in blocks]
    return {"type": "doc", "version": 1, "content": content or [{"type": "paragraph"}]}


class JiraClient:
    def __init__(
        self, http_for: Any, *, base_url: str, project: str, account: str, token: str,
        issue_type: str,
    ) -> None:  # fmt: skip
        basic = base64.b64encode(f"{account}:{token}".encode()).decode()
        self.base_url = base_url.rstrip("/")
        self.http: Http = http_for("Jira", {"Authorization": f"Basic {basic}"})
        self.project = project
        self.issue_type = issue_type or "Task"

    def _issue(self, body: Any) -> RemoteIssue:
        try:
            key = str(body["key"])
            status = (body.get("fields") or {}).get("status") or {}
            category = (status.get("statusCategory") or {}).get("key", "")
        except (KeyError, TypeError, AttributeError) as exc:
            raise TrackerError("Jira answered without the issue's key") from exc
        return RemoteIssue(
            key=key,
            url=f"{self.base_url}/browse/{key}",
            state=str(status.get("name") or "") if isinstance(status, dict) else "",
            closed=category == "done",
        )

    def create(self, title: str, description: str) -> RemoteIssue:
        fields = {
            "project": {"key": self.project},
            "summary": title,
            "issuetype": {"name": self.issue_type},
            "description": _adf(description),
        }
        what = f"create an issue in project {self.project}"
        created = self.http.call("POST", "/rest/api/3/issue", body={"fields": fields}, what=what)
        # The create answer holds id, key and self only; the state comes from a read. The
        # issue exists now: a failed read must not make the job create it again, so it
        # leaves the state to the next poll.
        key = created.get("key") if isinstance(created, dict) else None
        if not isinstance(key, str):
            raise TrackerError("Jira created the issue but answered without its key")
        try:
            return self.fetch(key)
        except TrackerError:
            return RemoteIssue(key=key, url=f"{self.base_url}/browse/{key}", state="", closed=False)

    def fetch(self, key: str) -> RemoteIssue:
        path = f"/rest/api/3/issue/{quote(key, safe='')}?fields=status,summary"
        return self._issue(self.http.call("GET", path, what=f"read issue {key}"))


def parse_ref(text: str, *, base_url: str, project: str) -> str:
    """PROJ-12 from PROJ-12 or a /browse/PROJ-12 URL; ValueError otherwise."""
    text = text.strip()
    found = _BROWSE_RE.search(text) if "/" in text else None
    key = (found.group(1) if found else text).upper()
    if not KEY_RE.match(key):
        raise ValueError("a Jira issue is named by its key (PROJ-12) or its /browse/ URL")
    return key


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Jira's admin webhooks with a secret sign the body: X-Hub-Signature: sha256=<hex>."""
    given = headers.get("x-hub-signature", "")
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), f"sha256={digest}".encode())


def webhook_issues(payload: Any, *, base_url: str) -> list[RemoteIssue]:
    """The issue a jira:issue_updated (or created) event is about, with its status."""
    if not isinstance(payload, dict) or not isinstance(payload.get("issue"), dict):
        return []
    if not str(payload.get("webhookEvent", "")).startswith("jira:issue_"):
        return []
    issue = payload["issue"]
    key = issue.get("key")
    status = (issue.get("fields") or {}).get("status") or {}
    if not isinstance(key, str) or not isinstance(status, dict):
        return []
    category = (status.get("statusCategory") or {}).get("key", "")
    return [
        RemoteIssue(
            key=key,
            url=f"{base_url.rstrip('/')}/browse/{key}",
            state=str(status.get("name") or ""),
            closed=category == "done",
        )
    ]
