"""A small REST client for the incident commands.

The server and token come from the command's --url and --token, else the TOCSIN_URL and
TOCSIN_TOKEN environment variables (scripts, CI), else the login `tocsin login` saved."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

from tocsin.cli.output import fail


def config_path() -> Path:
    override = os.environ.get("TOCSIN_CLI_CONFIG")
    if override:
        return Path(override)
    return Path(typer.get_app_dir("tocsin")) / "config.json"


def save_login(url: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written 0600 from the start: the token is a password.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url.rstrip("/"), "token": token}, handle)
    os.chmod(path, 0o600)
    return path


def saved_login() -> dict[str, str] | None:
    """The login `tocsin login` saved, or None."""
    try:
        data = json.loads(config_path().read_text())
        return {"url": str(data["url"]), "token": str(data["token"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Server:
    """Where a remote command goes, with which token, and where each came from."""

    url: str
    token: str
    token_from: str  # "--token", "TOCSIN_TOKEN" or "the saved login"


def check_url(url: str, where: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        fail(f"{where}: the server's address must start with http:// or https:// (got {url!r})")
    return url.rstrip("/")


def resolve_server(url: str | None = None, token: str | None = None) -> Server:
    """Flags, else TOCSIN_URL / TOCSIN_TOKEN, else the saved login.

    The saved token is only ever sent to the saved server: a URL from a flag or the
    environment without a token from either must be the saved login's own URL."""
    url_from = "--url" if url else "TOCSIN_URL"
    url = url or os.environ.get("TOCSIN_URL") or None
    token_from = "--token" if token else "TOCSIN_TOKEN"
    token = token or os.environ.get("TOCSIN_TOKEN") or None
    saved = saved_login()
    if url is None:
        if saved is None:
            fail("not logged in: run tocsin login URL, or set TOCSIN_URL and TOCSIN_TOKEN")
        url, url_from = saved["url"], "the saved login"
    url = check_url(url, url_from)
    if token is None:
        if saved is None or check_url(saved["url"], "the saved login") != url:
            fail(
                f"no API token for {url}: set TOCSIN_TOKEN, give --token, or run tocsin login {url}"
            )
        token, token_from = saved["token"], "the saved login"
    return Server(url, token, token_from)


NOUNS = {
    "severities": "severity",
    "priorities": "priority",
    "incident-types": "incident type",
    "services": "service",
    "users": "user",
    "teams": "team",
}


class Api:
    def __init__(
        self, url: str, token: str, timeout: float = 15.0, *, token_from: str = "--token"
    ) -> None:
        self.url = url.rstrip("/")
        self.token_from = token_from
        self.client = httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "tocsin-cli"},
            timeout=timeout,
        )

    @classmethod
    def from_login(cls, url: str | None = None, token: str | None = None) -> Api:
        """The server of `resolve_server`: flags, else the environment, else the login."""
        server = resolve_server(url, token)
        return cls(server.url, server.token, token_from=server.token_from)

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The server's answer; an error answer or no answer is one line and exit 1."""
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {self.url}: {exc}")
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200] or response.reason_phrase
            if response.status_code == 401:
                message += f" (the token from {self.token_from} was refused; check it, or run "
                message += "tocsin login URL)"
            fail(message)
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def download(self, path: str) -> bytes:
        """A file the server sends (an export), as bytes."""
        return self.send("GET", path).content

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=body or {})

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PUT", path, json=body)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PATCH", path, json=body)

    def id_by_name(self, collection: str, name: str, *, key: str = "name") -> int:
        """Find an object's id by its name (any case) in a list endpoint."""
        items = self.get(f"/{collection}", limit=500)["items"]
        for item in items:
            if str(item.get(key, "")).lower() == name.lower():
                return int(item["id"])
        known = ", ".join(str(i.get(key)) for i in items[:20]) or "none"
        noun = NOUNS.get(collection, collection)
        fail(f"no {noun} named {name!r} (known: {known})")
