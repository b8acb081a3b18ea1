"""GitLab, REST API v4: a personal, project or group access token (PRIVATE-TOKEN)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tocsin.trackers.ports import Http, RemoteIssue, TrackerError

_URL_RE = re.compile(r"/-/(?:issues|work_items)/([1-9][0-9]*)/?(?:[?#].*)?$")
_REF_RE = re.compile(r"^#?([1-9][0-9]*)$")


def _issue(body: Any) -> RemoteIssue:
    try:
        state = str(body["state"])
        return RemoteIssue(
            key=str(int(body["iid"])), url=str(body.get("web_url") or body.get("url") or ""),
            state=state, closed=state == "closed",
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise TrackerError("GitLab answered without the issue's iid or state") from exc


class GitLabClient:
    def __init__(self, http_for: Any, *, project: str, token: str) -> None:
        self.project = project
        # A project is addressed by its id or its URL-encoded path (group%2Fproject).
        self.path = f"/api/v4/projects/{quote(project, safe='')}/issues"
        self.http: Http = http_for("GitLab", {"PRIVATE-TOKEN": token})

    def create(self, title: str, description: str) -> RemoteIssue:
        body = {"title": title, "description": description}
        what = f"create an issue in project {self.project}"
        return _issue(self.http.call("POST", self.path, body=body, what=what))

    def fetch(self, key: str) -> RemoteIssue:
        what = f"read issue #{key} of project {self.project}"
        return _issue(self.http.call("GET", f"{self.path}/{int(key)}", what=what))


def parse_ref(text: str, *, base_url: str, project: str) -> str:
    """The issue's iid from 7, #7 or its URL (…/-/issues/7)."""
    text = text.strip()
    found = _URL_RE.search(text) if "/" in text else _REF_RE.match(text)
    if not found:
        raise ValueError("a GitLab issue is named by its number (#7) or its URL")
    return found.group(1)


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """GitLab sends the webhook's secret token as is, in X-Gitlab-Token."""
    given = headers.get("x-gitlab-token", "")
    return hmac.compare_digest(given.encode(), secret.encode())


def webhook_issues(payload: Any, *, base_url: str) -> list[RemoteIssue]:
    """The issue of an Issue Hook event (object_kind issue, or work_item)."""
    if not isinstance(payload, dict) or payload.get("object_kind") not in ("issue", "work_item"):
        return []
    try:
        return [_issue(payload["object_attributes"])]
    except (TrackerError, KeyError):
        return []
