"""A real HTTP server on loopback answering as Jira, GitHub, GitLab and Linear do.

Each vendor's paths, authentication and request and response shapes follow its published
API description (Jira REST v3, GitHub REST, GitLab REST v4, Linear GraphQL). Tests change its
issues as a person would in the tracker, and script failures (`fail`) and slow answers
(`delay`) before the next requests.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JIRA_EMAIL = "ops@example.com"
JIRA_TOKEN = "jira-api-token-0123456789"
GITHUB_TOKEN = "github_pat_0123456789abcdef"
GITLAB_TOKEN = "glpat-0123456789abcdef"
LINEAR_KEY = "lin_api_0123456789abcdef"
JIRA_PROJECT = "OPS"
GITHUB_REPO = "acme/platform"
GITLAB_PROJECT = "acme/platform"
LINEAR_TEAM = "9cfb482a-81e3-4154-b5b9-2c805e70a02d"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Fake:
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[Seen] = field(default_factory=list)
    # Issues by vendor, then key: {"title", "description", "closed", "state"}
    issues: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"jira": {}, "github": {}, "gitlab": {}, "linear": {}}
    )
    # Scripted answers for the next requests: (status, headers, body).
    failures: list[tuple[str | None, int, dict[str, str], Any]] = field(default_factory=list)
    delay: float = 0.0
    delays_left: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(
        self, status: int, body: Any = None, times: int = 1, method: str | None = None,
        **headers: str,
    ) -> None:  # fmt: skip
        """Answer the next `times` requests (of `method`, if given) so."""
        with self.lock:
            self.failures.extend([(method, status, headers, body)] * times)

    def scripted(self, method: str) -> tuple[int, dict[str, str], Any] | None:
        for index, (only, status, headers, body) in enumerate(self.failures):
            if only in (None, method):
                del self.failures[index]
                return status, headers, body
        return None

    def slow(self, seconds: float, times: int = 1) -> None:
        self.delay, self.delays_left = seconds, times

    def add(self, vendor: str, key: str, title: str, *, closed: bool = False) -> None:
        self.issues[vendor][key] = {"title": title, "description": "", "closed": closed}

    def close(self, vendor: str, key: str, closed: bool = True) -> None:
        self.issues[vendor][key]["closed"] = closed


def jira_issue(fake: Fake, key: str) -> dict[str, Any]:
    issue = fake.issues["jira"][key]
    done = issue["closed"]
    number = 10000 + int(key.split("-")[1])
    return {
        "id": str(number),
        "key": key,
        "self": f"{fake.url}/rest/api/3/issue/{number}",
        "fields": {
            "summary": issue["title"],
            "status": {
                "name": "Done" if done else "To Do",
                "statusCategory": {
                    "key": "done" if done else "new",
                    "name": "Done" if done else "To Do",
                },
            },
        },
    }


def github_issue(fake: Fake, number: str) -> dict[str, Any]:
    issue = fake.issues["github"][number]
    return {
        "id": 1000 + int(number),
        "number": int(number),
        "title": issue["title"],
        "body": issue["description"],
        "state": "closed" if issue["closed"] else "open",
        "html_url": f"https://github.com/{GITHUB_REPO}/issues/{number}",
        "url": f"https://api.github.com/repos/{GITHUB_REPO}/issues/{number}",
    }


def gitlab_issue(fake: Fake, iid: str) -> dict[str, Any]:
    issue = fake.issues["gitlab"][iid]
    return {
        "id": 5000 + int(iid),
        "iid": int(iid),
        "project_id": 42,
        "title": issue["title"],
        "description": issue["description"],
        "state": "closed" if issue["closed"] else "opened",
        "web_url": f"https://gitlab.com/{GITLAB_PROJECT}/-/issues/{iid}",
    }


def linear_issue(fake: Fake, identifier: str) -> dict[str, Any]:
    issue = fake.issues["linear"][identifier]
    done = issue["closed"]
    return {
        "id": f"uuid-{identifier}",
        "identifier": identifier,
        "url": f"https://linear.app/acme/issue/{identifier}/some-title",
        "state": {"type": "completed" if done else "unstarted", "name": "Done" if done else "Todo"},
    }


class Handler(BaseHTTPRequestHandler):
    fake: Fake

    def log_message(self, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with fake.lock:
            fake.requests.append(Seen(method, self.path, dict(self.headers.items()), body))
            scripted = fake.scripted(method)
            delay = fake.delay if fake.delays_left > 0 else 0.0
            fake.delays_left = max(0, fake.delays_left - 1)
        if delay:
            time.sleep(delay)
        if scripted is not None:
            status, headers, answer = scripted
            self._send(status, answer, headers)
            return
        path = self.path.split("?", 1)[0]
        if path.startswith("/rest/api/3/"):
            self._jira(method, path, body)
        elif path.startswith("/repos/"):
            self._github(method, path, body)
        elif path.startswith("/api/v4/"):
            self._gitlab(method, path, body)
        elif path == "/graphql":
            self._linear(body)
        else:
            self._send(404, {"message": "Not Found"})

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    # -- Jira REST v3 -------------------------------------------------------------------------
    def _jira(self, method: str, path: str, body: Any) -> None:
        fake = self.fake
        expected = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            self._send(
                401,
                {
                    "errorMessages": ["Client must be authenticated to access this resource."],
                    "errors": {},
                },
            )
            return
        if method == "POST" and path == "/rest/api/3/issue":
            fields = body["fields"]
            if fields["project"]["key"] != JIRA_PROJECT:
                self._send(
                    400, {"errorMessages": [], "errors": {"project": "valid project is required"}}
                )
                return
            key = f"{JIRA_PROJECT}-{len(fake.issues['jira']) + 1}"
            fake.add("jira", key, fields["summary"])
            fake.issues["jira"][key]["description"] = fields["description"]
            number = 10000 + int(key.split("-")[1])
            self._send(
                201,
                {"id": str(number), "key": key, "self": f"{fake.url}/rest/api/3/issue/{number}"},
            )
            return
        found = re.fullmatch(r"/rest/api/3/issue/([A-Z0-9_]+-[0-9]+)", path)
        if method == "GET" and found and found.group(1) in fake.issues["jira"]:
            self._send(200, jira_issue(fake, found.group(1)))
            return
        self._send(
            404,
            {
                "errorMessages": ["Issue does not exist or you do not have permission to see it."],
                "errors": {},
            },
        )

    # -- GitHub REST ------------------------------------------------------------------------
    def _github(self, method: str, path: str, body: Any) -> None:
        fake = self.fake
        if self.headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
            self._send(
                401,
                {
                    "message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "401",
                },
            )
            return
        found = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues(?:/([0-9]+))?", path)
        if not found or found.group(1) != GITHUB_REPO:
            self._send(
                404,
                {
                    "message": "Not Found",
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "404",
                },
            )
            return
        number = found.group(2)
        if method == "POST" and number is None:
            number = str(len(fake.issues["github"]) + 1)
            fake.add("github", number, body["title"])
            fake.issues["github"][number]["description"] = body.get("body", "")
            self._send(201, github_issue(fake, number))
        elif method == "GET" and number in fake.issues["github"]:
            self._send(200, github_issue(fake, number))
        else:
            self._send(
                404,
                {
                    "message": "Not Found",
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "404",
                },
            )

    # -- GitLab REST v4 ---------------------------------------------------------------------
    def _gitlab(self, method: str, path: str, body: Any) -> None:
        fake = self.fake
        if self.headers.get("PRIVATE-TOKEN") != GITLAB_TOKEN:
            self._send(401, {"message": "401 Unauthorized"})
            return
        found = re.fullmatch(r"/api/v4/projects/([^/]+)/issues(?:/([0-9]+))?", path)
        if not found or found.group(1) not in ("42", GITLAB_PROJECT.replace("/", "%2F")):
            self._send(404, {"message": "404 Project Not Found"})
            return
        iid = found.group(2)
        if method == "POST" and iid is None:
            iid = str(len(fake.issues["gitlab"]) + 1)
            fake.add("gitlab", iid, body["title"])
            fake.issues["gitlab"][iid]["description"] = body.get("description", "")
            self._send(201, gitlab_issue(fake, iid))
        elif method == "GET" and iid in fake.issues["gitlab"]:
            self._send(200, gitlab_issue(fake, iid))
        else:
            self._send(404, {"message": "404 Not found"})

    # -- Linear GraphQL ---------------------------------------------------------------------
    def _linear(self, body: Any) -> None:
        fake = self.fake
        if self.headers.get("Authorization") != LINEAR_KEY:
            self._send(
                400,
                {
                    "errors": [
                        {
                            "message": "Authentication required, not authenticated",
                            "extensions": {
                                "code": "AUTHENTICATION_ERROR",
                                "userPresentableMessage": "You need to authenticate.",
                            },
                        }
                    ]
                },
            )
            return
        query, variables = body["query"], body.get("variables") or {}
        if "issueCreate" in query:
            given = variables["input"]
            if given["teamId"] != LINEAR_TEAM:
                self._send(
                    400,
                    {
                        "errors": [
                            {
                                "message": "Entity not found: Team",
                                "extensions": {"code": "INVALID_INPUT"},
                            }
                        ],
                        "data": None,
                    },
                )
                return
            identifier = f"ENG-{len(fake.issues['linear']) + 1}"
            fake.add("linear", identifier, given["title"])
            fake.issues["linear"][identifier]["description"] = given.get("description", "")
            self._send(
                200,
                {
                    "data": {
                        "issueCreate": {"success": True, "issue": linear_issue(fake, identifier)}
                    }
                },
            )
            return
        identifier = variables.get("id", "")
        if identifier in fake.issues["linear"]:
            self._send(200, {"data": {"issue": linear_issue(fake, identifier)}})
            return
        self._send(
            200,
            {
                "errors": [
                    {"message": "Entity not found: Issue", "extensions": {"code": "INVALID_INPUT"}}
                ],
                "data": None,
            },
        )


def serve() -> tuple[Fake, ThreadingHTTPServer]:
    fake = Fake()
    handler = type("BoundHandler", (Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server
