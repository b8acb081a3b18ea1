"""Logging in through a real uvicorn server: failed logins, however many arrive at once, are
answered without a 500 and never hold up the event loop, so health checks and alert intake
are answered while they run."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.auth.conftest import TIMEOUT, in_parallel, login_call
from tests.conftest import ADMIN_PASSWORD
from tocsin.alerts import service as alerts
from tocsin.catalog import service as catalog
from tocsin.catalog.models import User


@pytest.fixture
def routing_key(db: Session) -> str:
    svc = catalog.create_service(db, name="Checkout")
    _, key = alerts.create_integration(db, service_id=svc.id, name="Prometheus via PD")
    db.commit()
    return key


def test_parallel_failed_logins_do_not_hold_up_health_checks_or_alert_intake(
    admin: User, routing_key: str, live_server: str
) -> None:
    logins, answers = in_parallel(
        [login_call(live_server, admin.email, f"wrong password {n}") for n in range(8)]
    )
    health: list[int] = []
    enqueued: list[int] = []
    with httpx.Client(base_url=live_server, timeout=TIMEOUT) as http:
        n = 0
        while n < 3 or any(thread.is_alive() for thread in logins):
            health.append(http.get("/healthz").status_code)
            event = {
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": f"disk-{n}",
                "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
            }
            enqueued.append(http.post("/v2/enqueue", content=json.dumps(event)).status_code)
            n += 1
    for thread in logins:
        thread.join()
    assert set(health) == {200}
    assert set(enqueued) == {202}
    errors = [a for a in answers if isinstance(a, Exception)]
    assert errors == []
    assert sorted({a.status_code for a in answers}) == [400]  # type: ignore[union-attr]
    # The server is still itself: the right password logs in.
    assert login_call(live_server, admin.email, ADMIN_PASSWORD)().status_code == 303
