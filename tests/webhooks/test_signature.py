"""The signature a receiver gets verifies with the recipe docs/webhooks.md gives (the snippet
is read from the document and run), and only with the subscription's current secret."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tests.webhooks.conftest import Receiver, run_jobs, subscribe
from tocsin.bootstrap import Container
from tocsin.catalog.models import User
from tocsin.config import Settings
from tocsin.incidents import service as incidents
from tocsin.notify.channels import signature_header
from tocsin.webhooks import service as webhooks

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify() -> Callable[..., bool]:
    """The `verify` function of the documented recipe, exactly as a reader would copy it."""
    text = DOC.read_text()
    match = re.search(r"<!-- verify-recipe[^>]*-->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "docs/webhooks.md lost its verification recipe"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    verify = namespace["verify"]
    assert callable(verify)
    return verify  # type: ignore[no-any-return]


def test_a_received_body_verifies_with_the_documented_recipe(
    db: Session, admin: User, container: Container, settings: Settings, receiver: Receiver
) -> None:
    verify = documented_verify()
    subscription, secret = subscribe(db, settings, receiver.url())
    assert secret.startswith("whsec_")
    incidents.declare(db, by=admin, title="Signed")
    db.commit()
    run_jobs(container)
    [received] = receiver.requests
    header = received.headers["x-tocsin-signature"]
    assert verify(secret, header, received.body)
    assert not verify(secret, header, received.body + b" ")  # a changed body fails
    assert not verify("whsec_wrong", header, received.body)

    rotated = webhooks.rotate_secret(db, subscription, settings=settings)
    db.commit()
    assert rotated != secret
    webhooks.send_test(db, subscription, settings=settings, by=admin)
    db.commit()
    run_jobs(container)
    test = receiver.requests[-1]
    assert test.json()["event"] == "webhook.test"
    assert verify(rotated, test.headers["x-tocsin-signature"], test.body)
    assert not verify(secret, test.headers["x-tocsin-signature"], test.body)


def test_the_recipe_refuses_an_old_timestamp() -> None:
    verify = documented_verify()
    header = signature_header("whsec_x", b"{}", timestamp=1_000_000)
    assert not verify("whsec_x", header, b"{}")
