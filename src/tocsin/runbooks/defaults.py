# ruff: noqa: E501 - each step is one line of Markdown, however long
"""The runbooks a new install starts with, written from PagerDuty's incident response
documentation (its security incident checklist and the incident commander's duties), in our
own words.

`ensure_default_runbooks` seeds them once: on a database where no runbook was ever written
(deleting one only marks it, so a deleted default does not come back). Role markers name the
default roles (`definitions.defaults.ROLES`); a marker naming a role the install does not have
is dropped rather than refusing the runbook.
"""

from __future__ import annotations

import re
from typing import TypedDict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.definitions.models import IncidentType
from tocsin.runbooks import service
from tocsin.runbooks.models import Runbook
from tocsin.runbooks.parsing import ROLE_RE


class DefaultRunbook(TypedDict):
    name: str
    incident_type: str | None  # by name; attached automatically to incidents of that type
    body: str


INCIDENT_COMMANDER = """\
What the incident commander does from the moment they take command. Tick each step as it is
done so the whole response can see where things stand.

- [ ] Join the call and say that you are the incident commander (role: incident_commander)
- [ ] Name a deputy (usually the backup commander) and a scribe, and say so on the call and in the incident channel (role: incident_commander)
- [ ] Name an internal liaison, and a customer liaison if customers may notice (role: incident_commander)
- [ ] Post who holds each role in the incident channel and on the incident (role: scribe)
- [ ] Size up: ask what is wrong and whether more than one service is affected; check the severity (role: incident_commander)
- [ ] Look for an obvious cause (a recent deploy, a traffic spike) and hand the investigation to the experts of the affected services (role: incident_commander)
- [ ] Set the update cadence and say when the next status update is due (role: incident_commander)
- [ ] Before each decision, state the plan and ask "Are there any strong objections?"; note objections, then decide (role: incident_commander)
- [ ] Give every task to one named person, with a time to report back, and get their acknowledgement (role: incident_commander)
- [ ] Give a short, factual status update to the call at every lull and at each due time (role: incident_commander)
- [ ] Decide whether to announce publicly; when in doubt, post it out (role: incident_commander)
- [ ] Keep your span of control small: split off sub-teams if the response grows (role: incident_commander)
- [ ] When the service has recovered, announce the end of the call and move what is left to the incident channel (role: incident_commander)
- [ ] Make sure the customer liaison closes the incident publicly and the postmortem has an owner (role: incident_commander)
"""

SECURITY = """\
For a suspected or confirmed security incident. Page an incident commander first: they hand
these steps out, and several may run at once. Keep the incident private, and talk about it
only with the response team until forensics show the attack did not come from inside.

- [ ] Page an incident commander if there is none yet (role: incident_commander)
- [ ] Stop the attack in progress by any means: power off or network-isolate the machines, keeping them for forensics (do not delete or terminate them) (role: sme)
  Examples, on a machine you are already logged into:
  ```sh
  sudo shutdown now
  ```
- [ ] Close the way in so it cannot be used again at once: disable the code path or service, rotate the credentials of a provider you suspect (role: sme)
- [ ] Assemble the response team: the security team always, someone for each affected service, then legal counsel and executives; add them as the incident's members; give it an innocuous codename (the incident's Codename field), used for the chat room and documents and all that people outside are told (role: incident_commander)
- [ ] Isolate the affected machines from all others, and take read-only disk images to cold storage (role: sme)
- [ ] Establish the attack's timeline: reconnaissance, first access, what the attacker did and ran, how long they had access, any other way back in (role: scribe)
- [ ] Find what data was compromised: data taken from databases, keys on the systems, customer data (role: sme)
- [ ] Assess the risk to other systems and of a new attack: treat every password and key that was on an affected host as compromised (role: sme)
- [ ] Mitigate further: rotate what was exposed, revoke compromised credentials, block the attack's addresses, add alerting for a similar breach (role: sme)
- [ ] Once the systems are secure and watched, analyse the images and logs: what happened, how, and how to prevent it (role: sme)
- [ ] Tell the organisation, once the attack is known not to come from inside: a short overview, the timeline, the mitigations, more to follow (role: comms_internal)
- [ ] Involve law enforcement, the operators of systems used in the attack, outside security help and the cyber insurer as needed (role: incident_commander)
- [ ] Tell customers once the facts are verified: the date in the title, honest and detailed about what was exposed and how, no blame on others, within days; their security teams first where possible (role: comms_external)

Communicating during a security incident: prefer the call and the chat room; avoid email (and
encrypt it if anyone outside the company is on it); never use SMS except to move someone to a
secure channel.
"""

DEFAULTS: list[DefaultRunbook] = [
    {"name": "Incident commander checklist", "incident_type": None, "body": INCIDENT_COMMANDER},
    {
        "name": "Security incident checklist",
        "incident_type": "Security incident",
        "body": SECURITY,
    },
]

_MARKER_LINE = re.compile(ROLE_RE.pattern, re.IGNORECASE | re.MULTILINE)


def _known_roles_only(body: str, roles: set[str]) -> str:
    def keep(match: re.Match[str]) -> str:
        return match.group(0) if match.group("role").lower() in roles else ""

    return _MARKER_LINE.sub(keep, body)


def ensure_default_runbooks(session: Session) -> bool:
    """Seed the default runbooks where none was ever written. Returns True if it did."""
    if session.scalar(select(func.count(Runbook.id))):
        return False
    roles = service.known_roles(session)
    for spec in DEFAULTS:
        type_id = None
        if spec["incident_type"] is not None:
            type_id = session.scalar(
                select(IncidentType.id).where(IncidentType.name == spec["incident_type"])
            )
        service.create(
            session,
            name=spec["name"],
            body=_known_roles_only(spec["body"], roles),
            by=None,
            incident_type_id=type_id,
            auto_attach=type_id is not None,
        )
    return True
