"""What an API token's scopes allow: the one classification of every route a token can call.

A token carries a set of scopes. Reading anything (GET, HEAD, OPTIONS) needs `read`. A write
under `/api/v1` needs the scope of the first rule in WRITES whose path is a prefix of the
request's path (by segments; `*` matches one segment). Writes outside `/api/v1` (the HTML
forms) are refused to tokens: a token is for the API. A browser session has no scope limit
(its role still applies). tests/auth/test_token_scopes.py fails for an `/api/v1` route that no
rule classifies.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

API_PREFIX = "/api/v1"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Scope(enum.StrEnum):
    read = "read"  # every GET: incidents, configuration, insights, exports
    incidents = "incidents"  # running incidents: everything on them, alerts, postmortems
    configuration = "configuration"  # services, teams, people, schedules, policies, ...
    ingestion = "ingestion"  # alerts and maintenance windows sent by monitoring and deploys


ALL_SCOPES: frozenset[Scope] = frozenset(Scope)

DESCRIPTIONS: dict[Scope, str] = {
    Scope.read: "Read everything the owner can see (every GET)",
    Scope.incidents: "Declare and run incidents: updates, roles, notes, action items, "
    "paging, postmortems, status page posts",
    Scope.configuration: "Change configuration: services, teams, users, service accounts, "
    "tokens, schedules, escalation policies, integrations, webhooks, workflows, "
    "definitions, status pages, chat and tracker connections",
    Scope.ingestion: "Acknowledge and resolve alerts, open and end maintenance windows "
    "(what monitoring and deploy tools do)",
}

# The scope a write needs, by path under /api/v1: the first matching rule wins, so the more
# specific rules come first.
WRITES: tuple[tuple[str, Scope], ...] = (
    # Nothing is written: what paging would do.
    ("/paging/simulate", Scope.read),
    # Ingestion: machines reporting what they see and do.
    ("/alerts", Scope.ingestion),
    ("/maintenance-windows", Scope.ingestion),
    ("/services/*/maintenance-windows", Scope.ingestion),
    # Incidents and everything on them.
    ("/incidents", Scope.incidents),
    ("/action-items", Scope.incidents),
    ("/postmortems", Scope.incidents),
    ("/status-pages/*/incidents", Scope.incidents),
    ("/status-pages/*/maintenances", Scope.incidents),
    # Configuration (a tracker's signed webhook takes no token: it never gets here).
    ("/services", Scope.configuration),
    ("/teams", Scope.configuration),
    ("/users", Scope.configuration),
    ("/service-accounts", Scope.configuration),
    ("/tokens", Scope.configuration),
    # Your own account: sessions and sign-in settings.
    ("/me", Scope.configuration),
    # Sign-in and provisioning: identity providers, SCIM tokens.
    ("/sso", Scope.configuration),
    ("/scim", Scope.configuration),
    ("/contact-methods", Scope.configuration),
    ("/notification-rules", Scope.configuration),
    ("/schedules", Scope.configuration),
    ("/escalation-policies", Scope.configuration),
    ("/roster", Scope.configuration),
    ("/integrations", Scope.configuration),
    ("/suppression-rules", Scope.configuration),
    ("/webhooks", Scope.configuration),
    ("/workflows", Scope.configuration),
    ("/runbooks", Scope.configuration),
    ("/status-pages", Scope.configuration),
    ("/comms-channels", Scope.configuration),
    ("/chat", Scope.configuration),
    ("/trackers", Scope.configuration),
    ("/incident-types", Scope.configuration),
    ("/severities", Scope.configuration),
    ("/priorities", Scope.configuration),
    ("/roles", Scope.configuration),
    ("/templates", Scope.configuration),
    ("/postmortem-policies", Scope.configuration),
    ("/plan", Scope.configuration),
)


class Unclassified(Exception):
    """A token write to a path that no rule classifies: refused (see `needed`)."""


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _is_prefix(pattern: str, path: list[str]) -> bool:
    wanted = _segments(pattern)
    if len(wanted) > len(path):
        return False
    return all(want in ("*", got) for want, got in zip(wanted, path, strict=False))


def needed(method: str, path: str) -> Scope | None:
    """The scope a token needs for `method path` (a concrete path or a route's template);
    None for a write that tokens may not make at all (outside /api/v1). Unclassified for an
    /api/v1 write that no rule covers."""
    if method.upper() in READ_METHODS:
        return Scope.read
    if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
        return None
    parts = _segments(path.removeprefix(API_PREFIX))
    for pattern, scope in WRITES:
        if _is_prefix(pattern, parts):
            return scope
    raise Unclassified(f"{method} {path}")


def parse(value: str) -> frozenset[Scope]:
    """The scopes stored on a token ("read incidents")."""
    return frozenset(Scope(part) for part in value.split() if part in Scope.__members__)


def render(scopes: Iterable[Scope | str]) -> str:
    """Stored form, in the order of Scope."""
    wanted = {Scope(s) for s in scopes}
    return " ".join(s.value for s in Scope if s in wanted)
