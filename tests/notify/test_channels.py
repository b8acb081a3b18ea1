"""Every channel passes the same conformance tests against real receivers on loopback; the
signed webhook verifies like a receiver would; the outbound guard refuses private targets."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from tests.conftest import free_port
from tests.notify.conftest import Receiver, SmtpServer
from tocsin.config import Settings
from tocsin.notify.channels import (
    SIGNATURE_HEADER,
    AppriseChannel,
    Channel,
    DeliveryFailed,
    Destination,
    EmailChannel,
    WebhookChannel,
    sign,
    verify_signature,
)
from tocsin.notify.messages import PageMessage
from tocsin.outbound import OutboundGuard, OutboundRefused

OPEN = OutboundGuard(allow_private=True)
CLOSED = OutboundGuard()

MESSAGE = PageMessage(
    kind="page",
    recipient_name="Ann",
    reason='on call in "Primary"',
    incident_number=42,
    title="Checkout <b>down</b>",
    severity="SEV1",
    urgency="high",
    status="triggered",
    services=("Checkout",),
    incident_url="http://tocsin.test/incidents/INC-42",
    acknowledge_url="http://tocsin.test/act/ack-token",
    resolve_url="http://tocsin.test/act/resolve-token",
)


@dataclass
class Case:
    channel: Channel
    working: Destination
    broken: Destination
    received: Callable[[], list[str]]  # the text of what arrived, one per delivery


@pytest.fixture(params=["email", "apprise", "webhook"])
def case(request: pytest.FixtureRequest, smtp: SmtpServer, receiver: Receiver) -> Case:
    dead = f"127.0.0.1:{free_port()}"
    if request.param == "email":
        settings = Settings(
            smtp_host=smtp.host, smtp_port=smtp.port, smtp_tls="none", notify_timeout_seconds=5
        )
        unreachable = settings.model_copy(update={"smtp_port": int(dead.split(":")[1])})
        return _email_case(settings, unreachable, smtp)
    if request.param == "apprise":
        return Case(
            AppriseChannel(OPEN, timeout=5),
            Destination(f"json://127.0.0.1:{receiver.port}/hook"),
            Destination(f"json://{dead}/hook"),
            lambda: [r.body.decode() for r in receiver.requests],
        )
    return Case(
        WebhookChannel(OPEN, timeout=5),
        Destination(receiver.url + "/hook", secret="whsec_test"),
        Destination(f"http://{dead}/hook", secret="whsec_test"),
        lambda: [r.body.decode() for r in receiver.requests],
    )


class _SwitchableEmail:
    """The same email channel, with a broken destination meaning an unreachable relay."""

    def __init__(self, working: EmailChannel, broken: EmailChannel) -> None:
        self.working, self.broken = working, broken

    def send(self, message: PageMessage, destination: Destination) -> None:
        channel = self.broken if destination.label == "broken" else self.working
        channel.send(message, destination)


def _email_case(settings: Settings, broken: Settings, smtp: SmtpServer) -> Case:
    return Case(
        _SwitchableEmail(EmailChannel(settings), EmailChannel(broken)),
        Destination("ann@example.com"),
        Destination("ann@example.com", label="broken"),
        lambda: [m["Subject"] + "\n" + m.get_content() for m in smtp.messages],
    )


def test_a_page_arrives_with_incident_reason_and_links(case: Case) -> None:
    case.channel.send(MESSAGE, case.working)
    (text,) = case.received()
    for needed in (
        "INC-42",
        "Checkout <b>down</b>",
        "SEV1",
        "high",
        "Checkout",
        "on call in",
        "http://tocsin.test/incidents/INC-42",
        "http://tocsin.test/act/ack-token",
        "http://tocsin.test/act/resolve-token",
    ):
        assert needed in text.replace("\\u003c", "<").replace("\\u003e", ">").replace('\\"', '"'), (
            needed
        )


def test_a_drill_page_says_so_in_every_channel(case: Case) -> None:
    case.channel.send(replace(MESSAGE, drill=True), case.working)
    case.channel.send(MESSAGE, case.working)
    drill, real = case.received()
    if drill.startswith('{"version":1,'):  # the signed webhook: JSON, no text
        assert '"drill":true' in drill and '"drill":false' in real
    else:
        assert "[DRILL] INC-42" in drill and "DRILL: this is a practice incident" in drill
        assert "DRILL" not in real


def test_a_drill_pages_email_subject_chat_title_and_webhook_json(receiver: Receiver) -> None:
    drill = replace(MESSAGE, drill=True)
    assert drill.subject == "[Tocsin] [DRILL] INC-42 (SEV1, high urgency): Checkout <b>down</b>"
    assert drill.text().startswith("DRILL: this is a practice incident, not a real one.\n")
    AppriseChannel(OPEN, timeout=5).send(drill, Destination(f"json://127.0.0.1:{receiver.port}/"))
    WebhookChannel(OPEN, timeout=5).send(drill, Destination(receiver.url, secret="whsec_test"))
    WebhookChannel(OPEN, timeout=5).send(MESSAGE, Destination(receiver.url, secret="whsec_test"))
    chat, signed, real = (json.loads(r.body) for r in receiver.requests)
    assert chat["title"] == "[DRILL] INC-42: Checkout <b>down</b>"
    assert signed["drill"] is True and signed["incident"]["drill"] is True
    assert real["drill"] is False and real["incident"]["drill"] is False


def test_an_unreachable_destination_raises_delivery_failed(case: Case) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        case.channel.send(MESSAGE, case.broken)
    assert failed.value.reason
    assert case.received() == []


def test_the_signed_webhook_verifies_like_a_receiver_would(receiver: Receiver) -> None:
    WebhookChannel(OPEN, timeout=5).send(MESSAGE, Destination(receiver.url, secret="s3cret"))
    (request,) = receiver.requests
    header = request.headers[SIGNATURE_HEADER.lower()]
    assert header.startswith("t=") and ",v1=" in header
    # What docs/notifications.md tells receivers to do, written out by hand:
    import hashlib
    import hmac

    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(
        b"s3cret", fields["t"].encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert verify_signature("s3cret", header, request.body)
    assert not verify_signature("other", header, request.body)
    assert not verify_signature("s3cret", header, request.body + b" ")
    assert not verify_signature("s3cret", header, request.body, now=int(fields["t"]) + 3600)
    body = json.loads(request.body)
    assert body["type"] == "page" and body["incident"]["reference"] == "INC-42"
    assert body["actions"]["acknowledge"] == "http://tocsin.test/act/ack-token"
    assert request.headers["x-tocsin-event"] == "page"
    assert sign("s3cret", 1, b"{}") != sign("s3cret", 2, b"{}")


def test_a_receiver_error_is_a_failed_delivery(receiver: Receiver) -> None:
    receiver.status = 500
    with pytest.raises(DeliveryFailed, match="answered HTTP 500"):
        WebhookChannel(OPEN, timeout=5).send(MESSAGE, Destination(receiver.url, secret="s"))
    with pytest.raises(DeliveryFailed):
        AppriseChannel(OPEN, timeout=5).send(
            MESSAGE, Destination(f"json://127.0.0.1:{receiver.port}/")
        )


def test_private_targets_are_refused_before_connecting(receiver: Receiver) -> None:
    with pytest.raises(DeliveryFailed, match="loopback"):
        WebhookChannel(CLOSED, timeout=5).send(MESSAGE, Destination(receiver.url, secret="s"))
    with pytest.raises(DeliveryFailed, match="loopback"):
        AppriseChannel(CLOSED, timeout=5).send(
            MESSAGE, Destination(f"json://127.0.0.1:{receiver.port}/")
        )
    assert receiver.requests == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1"]
)
def test_the_guard_refuses_private_loopback_and_link_local(host: str) -> None:
    with pytest.raises(OutboundRefused):
        CLOSED.check_host(host)
    OPEN.check_host(host)


def test_the_guard_allows_listed_networks_only() -> None:
    guard = OutboundGuard.from_settings(Settings(outbound_allow_cidrs="10.1.0.0/16, 127.0.0.1/32"))
    guard.check_host("10.1.200.3")
    guard.check_host("127.0.0.1")
    with pytest.raises(OutboundRefused):
        guard.check_host("10.2.0.1")
    CLOSED.check_host("93.184.215.14")  # a public address is fine
