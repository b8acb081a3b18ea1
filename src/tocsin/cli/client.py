"""A small REST client for the incident commands; the URL and token come from `tocsin login`."""

from __future__ import annotations

import json
import os
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


def load_login() -> dict[str, str]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
        return {"url": str(data["url"]), "token": str(data["token"])}
    except (OSError, ValueError, KeyError):
        fail("not logged in: run tocsin login URL")


NOUNS = {
    "severities": "severity",
    "priorities": "priority",
    "incident-types": "incident type",
    "services": "service",
    "users": "user",
    "teams": "team",
}


class Api:
    def __init__(self, url: str, token: str, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "tocsin-cli"},
            timeout=timeout,
        )

    @classmethod
    def from_login(cls) -> Api:
        login = load_login()
        return cls(login["url"], login["token"])

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
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
                message += " (run tocsin login URL)"
            fail(message)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

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
