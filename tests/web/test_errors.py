"""Errors are mapped to responses in one place: a database that cannot be reached is a 503 to
retry (JSON under /api/, a page elsewhere), logged as one warning line; any other database
error is still the server's own 500, logged with its traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.conftest import BACKEND, free_port
from tocsin.app import create_app
from tocsin.config import Settings
from tocsin.web.errors import UNREACHABLE


def _unreachable(settings: Settings, tmp_path: Path) -> Settings:
    """The same settings, with a database that is not there: a port nothing listens on, or a
    directory where the SQLite file should be (which also holds when the tests run as root)."""
    if BACKEND == "postgres":
        url = make_url(settings.database_url).set(port=free_port())
        return settings.model_copy(update={"database_url": url.render_as_string(False)})
    (tmp_path / "gone.db").mkdir()
    return settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'gone.db'}"})


def _logged(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == event]


def test_an_unreachable_database_answers_503_to_retry(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(create_app(_unreachable(settings, tmp_path)))

    api = client.get("/api/v1/incidents", headers={"Authorization": "Bearer tcs_whatever"})
    assert api.status_code == 503
    assert api.headers["retry-after"] == "5"
    assert api.json() == {"error": {"status": 503, "message": UNREACHABLE}}

    client.cookies.set("tocsin_session", "a-session-it-cannot-look-up")
    page = client.get("/incidents")
    assert page.status_code == 503 and page.headers["retry-after"] == "5"
    assert page.headers["content-type"].startswith("text/html")
    assert "Tocsin cannot reach its database" in page.text
    login = client.post("/login", data={"email": "ada@example.com", "password": "x" * 12})
    assert login.status_code == 503 and "Tocsin cannot reach its database" in login.text
    assert client.get("/readyz").status_code == 503

    # One warning line per request, no traceback, and nothing logged as an error.
    warnings = _logged(caplog, "http.database_unreachable")
    assert [r.msg["path"] for r in warnings] == ["/api/v1/incidents", "/incidents", "/login"]
    assert all(r.levelno == logging.WARNING and "exc_info" not in r.msg for r in warnings)
    assert all(r.msg["error"] and "\n" not in r.msg["error"] for r in warnings)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_other_database_errors_stay_500s(
    api: TestClient, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    assert api.get("/api/v1/incidents").status_code == 200
    db.execute(text("ALTER TABLE incidents RENAME TO incidents_elsewhere"))
    db.commit()
    try:
        failed = api.get("/api/v1/incidents")
    finally:
        db.execute(text("ALTER TABLE incidents_elsewhere RENAME TO incidents"))
        db.commit()
    assert failed.status_code == 500
    assert failed.json()["error"]["message"] == "internal error; it has been logged"
    (logged,) = _logged(caplog, "http.unhandled")
    assert logged.levelno == logging.ERROR and logged.msg["exc_info"] is not None
    assert not _logged(caplog, "http.database_unreachable")
    assert api.get("/api/v1/incidents").status_code == 200
