"""`POST /api/v1/paging/simulate`: the dry run over HTTP, which writes nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import token_for
from tests.escalation.conftest import Org, work
from tests.notify.conftest import SmtpServer
from tocsin.bootstrap import Container
from tocsin.catalog import service as catalog
from tocsin.db import Base


def _counts(db: Session) -> dict[str, int]:
    db.rollback()  # a fresh snapshot: what the server committed is visible
    return {
        t.name: db.scalar(select(func.count()).select_from(t)) or 0
        for t in Base.metadata.sorted_tables
    }


def test_simulate_over_http_writes_nothing_and_sends_nothing(
    api: TestClient, db: Session, container: Container, smtp: SmtpServer, org: Org
) -> None:
    # The token's first use from this address is recorded (token.new_address): use it once
    # before counting, so that only the simulation is measured.
    assert api.get("/api/v1/services").status_code == 200
    db.rollback()
    before = _counts(db)
    response = api.post(
        "/api/v1/paging/simulate",
        json={"service": "Checkout", "severity": "SEV2", "at": "2026-12-25T03:00 Europe/London"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["at"] == "2026-12-25T03:00:00+00:00" and body["timezone"] == "Europe/London"
    assert body["urgency"] == "high" and body["nobody"] is False
    (run,) = body["runs"]
    assert [lvl["level"] for lvl in run["levels"]] == [1, 2]
    assert run["levels"][1]["after_minutes"] == 5
    assert run["levels"][1]["people"][0]["name"] == "Carol"
    assert run["levels"][1]["people"][0]["deliveries"][0]["kind"] == "email"
    assert body["workflows"] == []
    assert _counts(db) == before  # every table: not one row more or less
    assert work(db, container) == 0  # no job was queued
    assert smtp.messages == []


def test_bad_input_is_a_clear_error(api: TestClient, org: Org) -> None:
    def ask(**body: object) -> tuple[int, str]:
        answer = api.post("/api/v1/paging/simulate", json={"service": "Checkout", **body})
        return answer.status_code, answer.json()["error"]["message"]

    assert ask(service="Nope") == (404, "service: no service named 'Nope'")
    assert ask(severity="SEV9") == (404, "severity: no severity named 'SEV9'")
    status, message = ask(at="2026-12-25T03:00 Mars/Base")
    assert status == 422 and "unknown time zone 'Mars/Base'" in message
    status, message = ask(at="25/12/2026 3am")
    assert status == 422 and "not a date and time" in message
    status, message = ask(at="2026-03-29T01:30 Europe/London")
    assert status == 422 and "does not exist in Europe/London" in message
    assert ask(timezone="Nowhere/Land")[0] == 422
    assert ask(urgency="urgent")[0] == 422


def test_viewers_may_ask_too(client: TestClient, db: Session, org: Org) -> None:
    viewer = catalog.create_user(db, name="Vic", email="vic@example.com", role="viewer")
    client.headers["Authorization"] = f"Bearer {token_for(db, viewer)}"
    assert client.post("/api/v1/paging/simulate", json={"service": "Checkout"}).status_code == 200
    del client.headers["Authorization"]
    assert client.post("/api/v1/paging/simulate", json={"service": "Checkout"}).status_code == 401
