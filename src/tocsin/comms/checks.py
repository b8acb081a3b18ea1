"""Communication's part of `tocsin check` (`tocsin.findings`): channels that cannot be sent to.

Warnings only (a channel is not a page): an Apprise URL that Apprise no longer understands
(for example after an upgrade), an email channel whose address is no longer valid, and a
channel whose last send failed. The outbound guard is checked by each send."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.comms.models import ChannelKind
from tocsin.comms.service import list_channels
from tocsin.errors import ValidationFailed
from tocsin.findings import Finding
from tocsin.notify.channels import apprise_plugin


def channel_findings(session: Session) -> list[Finding]:
    findings = []
    for channel in list_channels(session):
        if channel.paused or channel.kind == ChannelKind.manual:
            continue
        problem = ""
        if channel.kind == ChannelKind.apprise and apprise_plugin(channel.target) is None:
            problem = "its Apprise URL is not understood by this version of Apprise"
        elif channel.kind == ChannelKind.email:
            try:
                v.email(channel.target, "target")
            except ValidationFailed as exc:
                problem = exc.message
        if not problem and channel.last_ok is False:
            problem = f"its last send failed ({channel.last_result})"
        if problem:
            findings.append(
                Finding(
                    "warning",
                    "comms_channel",
                    channel.name,
                    f"communication channel \u201c{channel.name}\u201d cannot be sent to: "
                    f"{problem}; updates will not reach it",
                )
            )
    return findings
