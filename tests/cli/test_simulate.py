"""`tocsin simulate`: the same dry run on the database and through a server's API."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import token_for
from tests.escalation.conftest import Org, org, settings, smtp  # noqa: F401
from tocsin.catalog.models import User
from tocsin.cli.main import app
from tocsin.config import Settings
from tocsin.escalation import policies

runner = CliRunner()
ASK = ["simulate", "--service", "Checkout", "--severity", "SEV2",
       "--at", "2026-12-25T03:00 Europe/London"]  # fmt: skip


def test_local_and_remote_agree_and_print_who_how_and_when(
    live_server: str,
    db: Session,
    admin: User,
    settings: Settings,  # noqa: F811
    org: Org,  # noqa: F811
) -> None:
    local = {"TOCSIN_DATABASE_URL": settings.database_url, "COLUMNS": "220"}
    printed = runner.invoke(app, ASK, env=local)
    assert printed.exit_code == 0, printed.output
    assert "2026-12-25 03:00 GMT (Europe/London)" in printed.output
    assert "Nothing was written or sent" in printed.output
    assert "Carol" in printed.output and "T+5 min" in printed.output
    assert "(email) at once" in printed.output

    mine = runner.invoke(app, [*ASK, "--json"], env=local)
    remote = {"TOCSIN_URL": live_server, "TOCSIN_TOKEN": token_for(db, admin)}
    theirs = runner.invoke(app, [*ASK, "--json"], env=remote)
    assert theirs.exit_code == 0, theirs.output
    assert json.loads(mine.output) == json.loads(theirs.output)


def test_nobody_paged_exits_1_and_bad_input_is_one_line(
    db: Session,
    settings: Settings,  # noqa: F811
    org: Org,  # noqa: F811
) -> None:
    policies.set_service_paging(db, org.service, policy_id=None)
    db.commit()
    local = {"TOCSIN_DATABASE_URL": settings.database_url, "COLUMNS": "220"}
    nobody = runner.invoke(app, ["simulate", "--service", "Checkout"], env=local)
    assert nobody.exit_code == 1
    assert "Nobody would be paged" in nobody.output
    wrong = runner.invoke(app, ["simulate", "--service", "Checkout", "--at", "2026-12-25 Mars/X"],
                          env=local)  # fmt: skip
    assert wrong.exit_code == 1 and "unknown time zone 'Mars/X'" in wrong.output
    assert "Traceback" not in wrong.output
