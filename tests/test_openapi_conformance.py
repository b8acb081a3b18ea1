"""The OpenAPI document agrees with the API.

Schemathesis (its `st run` command, the documented CLI) reads `/api/v1/openapi.json` from
Tocsin served by uvicorn on loopback and runs every operation of it, authenticated as an
admin, through its four phases: the document's examples, coverage (boundary values, every
required part missing, every constraint broken, methods the path does not declare), fuzzing
and stateful sequences. It checks that no answer is a server error, that every status, media
type, header and body is the one declared, that data the document allows is accepted and data
it forbids is refused, and that a method a path does not have gets a 405 whose `Allow` header
names exactly the methods the document declares for it.

Bounded and reproducible: a fixed number of examples per operation, generated
deterministically (no seed, no example database, no cache between runs), one worker: about
10,000 requests, three minutes and a half here. `make test` runs it with the SQLite suite only:
the document and the HTTP layer are the same on both databases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from tests.conftest import token_for
from tocsin.auth import service as auth_service
from tocsin.catalog.models import User

ROOT = Path(__file__).resolve().parents[1]
MAX_EXAMPLES = 3
TIMEOUT_SECONDS = 600
# Per request. Schemathesis's default (10 s) once expired in CI on a tiny read while both
# suites shared two cores; this run checks the contract, not latency (that is `make bench`'s),
# and a request that never answers still fails it.
REQUEST_TIMEOUT_SECONDS = 60
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
]
# `positive_data_acceptance` expects every request the document allows to be accepted. These
# operations also refuse (422) requests that the document allows, for a reason no schema can
# state; every other check still runs on them, and the check runs on every other operation.
VALID_IS_NOT_ENOUGH = {
    "GET /api/v1/schedules/shifts/upcoming": "its window must end after it starts (now)",
    "GET /api/v1/schedules/{schedule_id}/final": "its window must end after it starts (now)",
    "POST /api/v1/schedules/{schedule_id}/overrides": "an override ends after it starts",
    "POST /api/v1/services/{service_id}/maintenance-windows": "a window ends after it starts",
    "POST /api/v1/schedules/{schedule_id}/layers": "what a layer needs depends on its kind",
    "PATCH /api/v1/schedules/{schedule_id}/layers/{layer_id}": "as for a new layer",
    "POST /api/v1/schedules/{schedule_id}/layers/{layer_id}/import": "an iCalendar file",
    "PUT /api/v1/schedules/{schedule_id}/layers/order": "each of the schedule's layers, once",
    "PUT /api/v1/services/{service_id}/alert-settings": "severity names of this Tocsin",
    "POST /api/v1/integrations": "its settings, for its type",
    "PATCH /api/v1/integrations/{integration_id}": "its settings, for its type",
    "POST /api/v1/services/{service_id}/suppression-rules": "a severity to downgrade to",
    "PATCH /api/v1/suppression-rules/{rule_id}": "a severity to downgrade to",
    "PUT /api/v1/services/{service_id}/paging": "support hours, for low urgency to wait for",
    "POST /api/v1/status-pages": "an accent colour dark enough to read on white",
    "PATCH /api/v1/status-pages/{page}": "an accent colour dark enough to read on white",
    "PUT /api/v1/incident-types/{type_id}/postmortem-template": "each section's key, once",
    "POST /api/v1/runbooks": "a body with steps, whose roles exist",
    "PATCH /api/v1/runbooks/{runbook_id}": "a body with steps, whose roles exist",
    "POST /api/v1/workflows": "a person or schedule to page, minutes for a timer trigger",
    "PATCH /api/v1/workflows/{workflow_id}": "as for a new workflow",
    # Insights: filters name a team, service, severity or type that exists, and a period in
    # order that has begun.
    "GET /api/v1/insights/kpis": "a team that exists; a period in order and begun",
    "GET /api/v1/insights/incidents": "as for the KPIs, and a figure's name",
    "GET /api/v1/insights/on-call": "a team that exists; a period in order and begun",
    "GET /api/v1/insights/learning": "a team that exists; a period in order and begun",
    "GET /api/v1/insights/noise": "a team that exists; a period in order and begun",
    # The people it names must be active, which depends on the data, not the request.
    "POST /api/v1/incidents": "an active commander",
    "POST /api/v1/services/{service_id}/followers": "an active person",
    "PUT /api/v1/incidents/{ref}/roles/{role_slug}": "an active person",
    "POST /api/v1/incidents/{ref}/roles/{role_slug}/holders": "an active person",
    "POST /api/v1/incidents/{ref}/command": "an active person",
    "PUT /api/v1/roster/{role_slug}": "active people",
    "POST /api/v1/incidents/{ref}/roles/{role_slug}/from-roster": "a roster naming someone now",
    "POST /api/v1/escalation-policies": "people who can be paged (no service account)",
    "PATCH /api/v1/escalation-policies/{policy_id}": "people who can be paged",
    "PUT /api/v1/teams/{team_id}/members/{user_id}": "an active person",
    # Addresses: an email address that the relay takes, an Apprise URL that Apprise reads, a
    # URL whose host resolves to a public address (the outbound guard), depending on kind.
    "POST /api/v1/comms-channels": "its target, for its kind",
    "PATCH /api/v1/comms-channels/{channel_id}": "its target, for its kind",
    "POST /api/v1/users/{user_id}/contact-methods": "its target, for its kind",
    "PATCH /api/v1/contact-methods/{method_id}": "its target, for its kind",
    "POST /api/v1/status-pages/{page_id}/subscribers": "an address, or a public webhook URL",
    # Issue trackers: a base URL the outbound guard allows, a project in its tracker's form
    # (an account email for Jira); an issue named in its tracker's form; a webhook signed
    # with the connection's secret.
    "POST /api/v1/trackers": "a public base URL and a project, for its kind",
    "PATCH /api/v1/trackers/{connection_id}": "a public base URL and a project, for its kind",
    "POST /api/v1/action-items/{item_id}/tracker-link": "an issue named as its tracker does",
    "POST /api/v1/trackers/{connection_id}/webhook": "signed with the connection's secret",
    # Chat: a base URL the outbound guard allows, a team and bot user id in the form of the
    # connection's vendor, the credentials its vendor takes.
    "POST /api/v1/chat/connections": "a public base URL, a team and bot id for its vendor",
    "PATCH /api/v1/chat/connections/{connection_id}": "as for a new connection",
    # Single sign-on: an issuer the outbound guard allows and a client for OpenID Connect, the
    # identity provider's metadata (XML, with a signing certificate) for SAML.
    "POST /api/v1/sso/providers": "a public issuer and a client, or SAML metadata, by kind",
    "PATCH /api/v1/sso/providers/{provider_id}": "as for a new provider",
    "POST /api/v1/webhooks": "a URL whose host resolves to a public address",
    "PATCH /api/v1/webhooks/{subscription_id}": "a URL whose host resolves to a public address",
    # A token's expiry is in the future (and at most three years ahead); a service account
    # cannot be given a token once deactivated.
    "POST /api/v1/tokens": "an expiry ahead of now, for an active owner",
    # A dry run names a service of this Tocsin, and a moment as a date, a time and a zone.
    "POST /api/v1/paging/simulate": "a date and time in a zone the tz database knows",
}


def _config(decoy_token_id: int) -> str:
    checks = "\n".join(f"{check}.enabled = true" for check in CHECKS)
    exceptions = "".join(
        f"""
# {why}
[[operations]]
include-name = "{name}"
checks = {{ positive_data_acceptance = {{ enabled = false }} }}
"""
        for name, why in VALID_IS_NOT_ENOUGH.items()
    )
    return f"""
color = false
hooks = "tests.openapi_hooks"

[cache]
enabled = false

[headers]
Authorization = "Bearer ${{TOCSIN_CONFORMANCE_TOKEN}}"

[checks]
enabled = false
{checks}

# Revoking a token is tested on a token made for it: the run's own must outlive the run.
[[operations]]
include-name = "DELETE /api/v1/tokens/{{token_id}}"
parameters = {{ token_id = {decoy_token_id} }}
{exceptions}"""


def test_the_api_agrees_with_its_openapi_document(
    live_server: str, db: Session, admin: User, tmp_path: Path
) -> None:
    token = token_for(db, admin)
    decoy, _ = auth_service.create_api_token(db, admin, "revoked by the conformance run")
    decoy_id = decoy.id
    # Committed, and nothing read after: an open read transaction would keep SQLite from
    # checkpointing its write-ahead log for the whole run.
    db.commit()
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(decoy_id))
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{live_server}/api/v1/openapi.json",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        str(REQUEST_TIMEOUT_SECONDS),
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    environment = {
        **os.environ,
        "TOCSIN_CONFORMANCE_TOKEN": token,
        "PYTHONPATH": str(ROOT),  # for `hooks`
    }
    result = subprocess.run(
        command,
        cwd=tmp_path,  # anything schemathesis writes stays out of the work tree
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    output = result.stdout + result.stderr
    assert report.exists(), output[-20000:]
    summary = json.loads(report.read_text())
    operations = summary["operations"]
    # Every operation of the document ran: none skipped, none errored.
    assert operations["total"] > 150, operations
    assert operations["tested"] == operations["selected"] == operations["total"], operations
    assert result.returncode == 0, output[-30000:]
