"""The static copy: `tocsin statuspage export` and the export hook, served by a plain static
file server."""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.statuspages.conftest import Acme, declare, work
from tocsin.bootstrap import build
from tocsin.catalog.models import User
from tocsin.cli.main import app
from tocsin.config import Settings
from tocsin.errors import ValidationFailed
from tocsin.statuspages import publish
from tocsin.statuspages.export import write_tree

runner = CliRunner()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _static_server(directory: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def static_server() -> Iterator[object]:
    servers: list[Iterator[str]] = []

    def start(directory: Path) -> str:
        gen = _static_server(directory)
        servers.append(gen)
        return next(gen)

    yield start
    for gen in servers:
        next(gen, None)


def _published(db: Session, admin: User, acme: Acme) -> str:
    incident = declare(db, admin)
    draft = publish.check(
        db,
        acme.page,
        incident,
        phase="identified",
        body="A **fix** is rolling out.",
        name="Checkout errors",
        components={acme.checkout.id: "partial_outage"},
    )
    update = publish.publish(db, draft, by=admin)
    db.commit()
    return update.page_incident.public_id


def _crawl(base: str) -> dict[str, httpx.Response]:
    """Fetch the index and every page, stylesheet and feed it links to, relatively."""
    seen: dict[str, httpx.Response] = {}
    todo = [base]
    while todo:
        url = todo.pop()
        if url in seen or not url.startswith(base):
            continue
        response = httpx.get(url, timeout=30)
        seen[url] = response
        if response.headers.get("content-type", "").startswith("text/html"):
            for link in re.findall(r'(?:href|src)="([^"#]+)"', response.text):
                if "://" not in link:
                    todo.append(urljoin(url, link).split("?")[0])
    return seen


def test_the_cli_export_serves_from_a_plain_static_server(
    db: Session, admin: User, acme: Acme, settings: Settings, tmp_path: Path, static_server
) -> None:  # type: ignore[no-untyped-def]
    incident_id = _published(db, admin, acme)
    out = tmp_path / "site"
    result = runner.invoke(
        app, ["statuspage", "export", "acme", str(out)],
        env={"TOCSIN_DATABASE_URL": settings.database_url},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "files of 'acme'" in result.output
    base = static_server(out)
    crawled = _crawl(base)
    assert all(r.status_code == 200 for r in crawled.values()), {
        u: r.status_code for u, r in crawled.items() if r.status_code != 200
    }
    assert f"{base}incidents/{incident_id}/" in crawled
    assert f"{base}history/" in crawled and f"{base}assets/status.css" in crawled
    assert f"{base}history.rss" in crawled
    index = crawled[base].text
    assert "Checkout errors" in index and "A <strong>fix</strong> is rolling out." in index
    summary = httpx.get(f"{base}api/v2/summary.json", timeout=30).json()
    assert summary["status"] == {"indicator": "minor", "description": "Partial System Outage"}
    assert summary["incidents"][0]["id"] == incident_id
    # Again into the same directory: replaced, not refused.
    again = runner.invoke(app, ["statuspage", "export", "acme", str(out)],
                          env={"TOCSIN_DATABASE_URL": settings.database_url})  # fmt: skip
    assert again.exit_code == 0, again.output


def test_export_refuses_a_directory_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ValidationFailed, match="not empty"):
        write_tree(tmp_path, [("index.html", b"x")])
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    with pytest.raises(ValidationFailed, match="outside"):
        write_tree(tmp_path / "new", [("../escape.html", b"x")])
    assert not (tmp_path / "escape.html").exists()


def test_cli_list_and_a_clear_error(
    db: Session, acme: Acme, settings: Settings, tmp_path: Path
) -> None:
    env = {"TOCSIN_DATABASE_URL": settings.database_url}
    listed = runner.invoke(app, ["statuspage", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert '"slug": "acme"' in listed.output and "All Systems Operational" in listed.output
    missing = runner.invoke(app, ["statuspage", "export", "nope", str(tmp_path / "x")], env=env)
    assert missing.exit_code == 1 and "no status page 'nope'" in missing.output


def test_the_export_hook_writes_and_runs_the_command_after_every_render(
    db: Session, admin: User, acme: Acme, settings: Settings, tmp_path: Path, static_server
) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "ran.txt"
    script = tmp_path / "after.py"
    script.write_text(
        "import os, pathlib\n"
        "env = os.environ\n"
        f"pathlib.Path({str(marker)!r}).open('a').write("
        "env['TOCSIN_STATUSPAGE_SLUG'] + ' ' + env['TOCSIN_STATUSPAGE_DIR'] + '\\n')\n"
    )
    hooked = settings.model_copy(update={
        "statuspage_export_dir": str(tmp_path / "public"),
        "statuspage_export_command": f"{sys.executable} {script}",
    })  # fmt: skip
    container = build(hooked)
    try:
        _published(db, admin, acme)
        work(db, container)
        site = tmp_path / "public" / "acme"
        assert marker.read_text() == f"acme {site}\n"
        base = static_server(site)
        assert "Checkout errors" in httpx.get(base, timeout=30).text
        assert httpx.get(f"{base}api/v2/incidents/unresolved.json", timeout=30).json()["incidents"]
    finally:
        container.close()


def test_the_demo_page_renders(settings: Settings, container, client) -> None:  # type: ignore[no-untyped-def]
    from tocsin.db import transaction
    from tocsin.demo.seed import seed_demo

    with transaction(container.sessionmaker) as session:
        seed_demo(session, "admin@example.com", "a-good-password")
    container.runner("demo").run_until_idle()
    client.app.state.statuspages.refresh()
    page = client.get("/status/acme/")
    assert page.status_code == 200
    for text in ("Acme Status", "Shopping", "Errors on the public API", "Database upgrade",
                 "Card payments failing for some customers", "Partial System Outage"):  # fmt: skip
        assert text in page.text, text
    summary = client.get("/status/acme/api/v2/summary.json").json()
    assert [m["name"] for m in summary["scheduled_maintenances"]] == ["Database upgrade"]
    history = client.get("/status/acme/history/").text
    assert "Slow search results" in history
    assert 'class="day day-major"' in page.text, "the payments outage shows on the uptime bar"
