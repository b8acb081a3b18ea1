"""The `sso` section: single sign-on identity providers, one entry per provider (matched by
name), with their group rules (teams named).

The OIDC client secret is never written in the file: it is a reference to an environment
variable (`client_secret: {env: OKTA_CLIENT_SECRET}`), read when the file is applied. Exports
leave it out, and applying an entry without it keeps the stored one. Change lines name the
fields that changed, never their values. Providers missing from the file are left alone."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.auth import saml, sso
from tocsin.auth.sso_models import SsoProvider
from tocsin.catalog.models import Team
from tocsin.config import Settings
from tocsin.errors import UnknownReference, ValidationFailed

Doc = dict[str, Any]
PLAIN = ("enabled", "issuer", "client_id", "scopes", "idp_metadata", "groups_claim",
         "require_group", "default_role")  # fmt: skip
OIDC_ONLY = ("issuer", "client_id", "scopes")
Role = Literal["viewer", "responder", "admin"]


class EnvRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    env: str = Field(min_length=1, max_length=255, description="the variable holding it")


class SsoRuleDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: str = Field(min_length=1, max_length=255)
    role: Role | None = None
    team: str | None = Field(default=None, description="a team's name")


class SsoDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=120)
    kind: Literal["oidc", "saml"]
    enabled: bool = True
    issuer: str = ""
    client_id: str = ""
    client_secret: EnvRef | None = Field(
        default=None, description="{env: VARIABLE}; left out: keep"
    )
    scopes: str = "openid email profile"
    idp_metadata: str = ""
    groups_claim: str = "groups"
    require_group: bool = False
    default_role: Role = "viewer"
    rules: list[SsoRuleDoc] = []


def _doc(provider: SsoProvider) -> Doc:
    return {
        "name": provider.name,
        "kind": provider.kind,
        **{key: getattr(provider, key) for key in PLAIN},
        "rules": [
            {"group": r.group, "role": r.role, "team": r.team.name if r.team else None}
            for r in provider.rules
        ],
    }


def current(session: Session) -> dict[str, Doc]:
    """Every provider, keyed by name (without its secret)."""
    return {p.name: _doc(p) for p in sso.list_providers(session)}


def _rules(session: Session, rules: list[Doc]) -> list[Doc]:
    teams = {t.name.lower(): t.id for t in session.scalars(select(Team)).all()}
    out = []
    for index, rule in enumerate(rules):
        team_id = None
        if rule.get("team"):
            team_id = teams.get(str(rule["team"]).lower())
            if team_id is None:
                raise UnknownReference(
                    f"rules[{index}].team: no team named {rule['team']!r}", field="rules"
                )
        out.append({"group": rule["group"], "role": rule.get("role"), "team_id": team_id})
    return out


def _secret(doc: Doc) -> str | None:
    ref = doc.get("client_secret")
    if ref is None:
        return None
    value = os.environ.get(ref["env"], "")
    if not value.strip():
        raise ValidationFailed(
            f"the environment variable {ref['env']} (for client_secret) is not set",
            field="client_secret",
        )
    return value


def _stored_secret(provider: SsoProvider, settings: Settings) -> str | None:
    try:
        return sso.client_secret(provider, settings)
    except sso.SsoRefused:  # undecryptable under this install's key: set it again
        return None


def reconcile(session: Session, name: str, doc: Doc, new_keys: list[Any]) -> list[str]:
    """Make the provider named `name` match the document."""
    # Settings from the environment (TOCSIN_*), as `tocsin apply` runs: the outbound guard
    # and the key the secret is encrypted with.
    settings = Settings()
    secret = _secret(doc)
    other = OIDC_ONLY if doc["kind"] == "saml" else ("idp_metadata",)
    data: Doc = {key: doc[key] for key in PLAIN if key not in other}
    data["rules"] = _rules(session, doc["rules"])
    found = session.scalar(select(SsoProvider).where(SsoProvider.name == name))
    if found is None:
        if secret is not None:
            data["client_secret"] = secret
        sso.create_provider(
            session,
            {"name": name, "kind": doc["kind"], **data},
            settings=settings,
            check_metadata=saml.check_metadata,
        )
        return [f"create identity provider {name!r}"]
    have = _doc(found)
    changed = sorted(
        key for key in (*PLAIN, "kind", "rules") if key in doc and doc[key] != have[key]
    )
    if secret is not None and _stored_secret(found, settings) != secret:
        data["client_secret"] = secret
        changed.append("client_secret")
    if not changed:
        return []
    if "kind" in changed:
        data["kind"] = doc["kind"]
    sso.update_provider(session, found, data, settings=settings, check_metadata=saml.check_metadata)
    return [f"update identity provider {found.name!r}: {', '.join(sorted(changed))}"]
