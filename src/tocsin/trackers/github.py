"""GitHub Issues, REST API: a bearer token (fine-grained or classic) on one repository."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from tocsin.trackers.ports import Http, RemoteIssue, TrackerError

REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_URL_RE = re.compile(r"/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/issues/([1-9][0-9]*)/?(?:[?#].*)?$")
_REF_RE = re.compile(r"^(?:([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+))?#?([1-9][0-9]*)$")


def _issue(body: Any) -> RemoteIssue:
    try:
        state = str(body["state"])
        return RemoteIssue(
            key=str(int(body["number"])), url=str(body["html_url"]), state=state,
            closed=state == "closed",
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise TrackerError("GitHub answered without the issue's number, state or URL") from exc


class GitHubClient:
    def __init__(self, http_for: Any, *, repo: str, token: str) -> None:
        self.repo = repo
        self.http: Http = http_for(
            "GitHub",
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )

    def create(self, title: str, description: str) -> RemoteIssue:
        body = {"title": title, "body": description}
        what = f"create an issue in {self.repo}"
        return _issue(self.http.call("POST", f"/repos/{self.repo}/issues", body=body, what=what))

    def fetch(self, key: str) -> RemoteIssue:
        path = f"/repos/{self.repo}/issues/{int(key)}"
        return _issue(self.http.call("GET", path, what=f"read issue #{key} of {self.repo}"))


def parse_ref(text: str, *, base_url: str, project: str) -> str:
    """The issue number from 42, #42, owner/repo#42 or the issue's URL, in this repository."""
    text = text.strip()
    found = _URL_RE.search(text) if "/issues/" in text else _REF_RE.match(text)
    if not found:
        raise ValueError("a GitHub issue is named by its number (#42) or its URL")
    repo, number = found.group(1), found.group(2)
    if repo and repo.lower() != project.lower():
        raise ValueError(f"that issue is in {repo}; this connection's repository is {project}")
    return number


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the webhook's secret>."""
    given = headers.get("x-hub-signature-256", "")
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), f"sha256={digest}".encode())


def webhook_issues(payload: Any, *, base_url: str) -> list[RemoteIssue]:
    """The issue of an `issues` event (opened, closed, reopened, edited, …)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("issue"), dict):
        return []
    try:
        return [_issue(payload["issue"])]
    except TrackerError:
        return []
