"""Single sign-on, the part OpenID Connect and SAML share: identity providers and their group
rules (configured by admins), the mapping of a person's groups to a role and teams, and
signing in: the first sign-in creates the account (just in time), linked by the provider's
stable subject; every sign-in brings the role and the mapped teams in line with the groups
the provider sends now.

Who may sign in is decided here; the protocol modules (`oidc.py`, `saml.py`) only prove who
the person is (`Claims`). Refusals raise `SsoRefused` (401: the answer could not be trusted)
or `SsoForbidden` (403: trusted, but this person may not sign in); the views record them in
the audit trail apart from the rolled-back transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin import validation as v
from tocsin.audit.trail import Actor, acting, record
from tocsin.auth.sso_models import (
    SsoGroupRule,
    SsoIdentity,
    SsoPendingLogin,
    SsoProvider,
)
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Team, User, UserRole
from tocsin.config import Settings
from tocsin.crypto import Undecryptable, Vault
from tocsin.db import utcnow
from tocsin.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from tocsin.outbound import OutboundGuard, OutboundRefused

KINDS = ("oidc", "saml")
ROLE_ORDER = (UserRole.viewer.value, UserRole.responder.value, UserRole.admin.value)
# How long a person has at the identity provider before the sign-in must start again.
PENDING_TTL = timedelta(minutes=10)
FIELDS = {
    "name",
    "kind",
    "enabled",
    "issuer",
    "client_id",
    "client_secret",
    "scopes",
    "idp_metadata",
    "groups_claim",
    "require_group",
    "default_role",
    "rules",
}


class SsoRefused(Unauthenticated):
    """The identity provider's answer cannot be trusted (forged, replayed, expired, for
    another sign-in): 401."""


class SsoForbidden(Forbidden):
    """The person is who they say, but may not sign in (no group that grants access, a
    deactivated account): 403."""


@dataclass(frozen=True)
class Claims:
    """Who the identity provider says signed in."""

    subject: str
    email: str
    name: str
    groups: tuple[str, ...]
    email_verified: bool = True


@dataclass(frozen=True)
class Access:
    """What a person's groups give them under one provider's rules."""

    role: str
    team_ids: frozenset[int]  # the mapped teams they belong in
    managed_team_ids: frozenset[int]  # every team the rules map (membership kept in line)


def vault(settings: Settings) -> Vault:
    """The vault client secrets are encrypted with."""
    return Vault.from_settings(settings, "sso")


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- group mapping --------------------------------------------------------------------------


def access_for(
    rules: Sequence[SsoGroupRule],
    groups: Iterable[str],
    *,
    default_role: str,
    require_group: bool,
) -> Access:
    """The role (the highest any matching rule gives, else `default_role`) and mapped teams
    for someone in `groups`. Group names match exactly. SsoForbidden if `require_group` and
    no rule matches."""
    held = set(groups)
    matched = [rule for rule in rules if rule.group in held]
    if require_group and not matched:
        raise SsoForbidden(
            "your account is not in any group that gives access to Tocsin; ask an admin "
            "of your identity provider to add you"
        )
    roles = [rule.role for rule in matched if rule.role]
    role = max(roles, key=ROLE_ORDER.index) if roles else default_role
    return Access(
        role=role,
        team_ids=frozenset(rule.team_id for rule in matched if rule.team_id is not None),
        managed_team_ids=frozenset(rule.team_id for rule in rules if rule.team_id is not None),
    )


# --- providers ------------------------------------------------------------------------------


def list_providers(session: Session, *, enabled_only: bool = False) -> list[SsoProvider]:
    query = select(SsoProvider).order_by(SsoProvider.name, SsoProvider.id)
    if enabled_only:
        query = query.where(SsoProvider.enabled.is_(True))
    return list(session.scalars(query).all())


def get_provider(session: Session, provider_id: int) -> SsoProvider:
    provider = session.get(SsoProvider, provider_id)
    if provider is None:
        raise NotFound(f"no identity provider with id {provider_id}")
    return provider


def secret_set(provider: SsoProvider) -> bool:
    return bool(provider.client_secret_encrypted)


def client_secret(provider: SsoProvider, settings: Settings) -> str:
    """The provider's client secret; SsoRefused if it cannot be decrypted any more (the
    install's key changed): an admin enters it again."""
    try:
        return vault(settings).decrypt(provider.client_secret_encrypted)
    except Undecryptable as exc:
        raise SsoRefused(
            f"{provider.name}'s client secret cannot be decrypted (was TOCSIN_SECRET_KEY or "
            "TOCSIN_ENCRYPTION_KEY changed?); an admin must enter it again"
        ) from exc


def _rules(session: Session, value: Any) -> list[SsoGroupRule]:
    if not isinstance(value, list):
        raise ValidationFailed("rules must be a list", field="rules")
    rules = []
    for index, item in enumerate(value):
        field = f"rules[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationFailed(f"{field} must be an object", field="rules")
        unknown = set(item) - {"group", "role", "team_id"}
        if unknown:
            raise ValidationFailed(
                f"{field}: unknown field(s): {', '.join(sorted(unknown))}", field="rules"
            )
        group = v.text(item.get("group"), f"{field}.group", max_len=255, required=True)
        role = item.get("role") or None
        if role is not None:
            role = v.one_of(role, f"{field}.role", ROLE_ORDER)
        team_id = item.get("team_id")
        if team_id is not None:
            if isinstance(team_id, bool) or not isinstance(team_id, int):
                raise ValidationFailed(f"{field}.team_id must be a team's id", field="rules")
            if session.get(Team, team_id) is None:
                raise NotFound(f"{field}: no team with id {team_id}", field="rules")
        if role is None and team_id is None:
            raise ValidationFailed(f"{field} must give a role, a team or both", field="rules")
        rules.append(SsoGroupRule(group=group, role=role, team_id=team_id))
    return rules


def _check_issuer(issuer: str, guard: OutboundGuard) -> None:
    parsed = urlparse(issuer)
    try:
        guard.check_host(parsed.hostname or "", parsed.port)
    except OutboundRefused as exc:
        raise ValidationFailed(f"issuer: {exc.reason}", field="issuer") from exc


def _apply(
    session: Session,
    provider: SsoProvider,
    changes: Mapping[str, Any],
    settings: Settings,
    *,
    check_metadata: Any,
) -> None:
    unknown = set(changes) - FIELDS
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    if "name" in changes:
        name = v.text(changes["name"], "name", max_len=120, required=True)
        other = session.scalar(select(SsoProvider).where(SsoProvider.name == name))
        if other is not None and other is not provider:
            raise Conflict(f"an identity provider named {name!r} already exists", field="name")
        provider.name = name
    for flag in ("enabled", "require_group"):
        if flag in changes:
            if not isinstance(changes[flag], bool):
                raise ValidationFailed(f"{flag} must be true or false", field=flag)
            setattr(provider, flag, changes[flag])
    if "default_role" in changes:
        provider.default_role = v.one_of(changes["default_role"], "default_role", ROLE_ORDER)
    if "groups_claim" in changes:
        provider.groups_claim = v.text(
            changes["groups_claim"], "groups_claim", max_len=255, required=True
        )
    if provider.kind == "oidc":
        if "issuer" in changes:
            provider.issuer = v.url(changes["issuer"], "issuer").rstrip("/")
            _check_issuer(provider.issuer, OutboundGuard.from_settings(settings))
        if "client_id" in changes:
            provider.client_id = v.text(
                changes["client_id"], "client_id", max_len=255, required=True
            )
        if changes.get("client_secret"):
            secret = v.text(changes["client_secret"], "client_secret", max_len=4096)
            provider.client_secret_encrypted = vault(settings).encrypt(secret)
        if "scopes" in changes:
            scopes = v.text(changes["scopes"], "scopes", max_len=255, required=True).split()
            if "openid" not in scopes:
                scopes.insert(0, "openid")
            provider.scopes = " ".join(dict.fromkeys(scopes))
        for field in ("issuer", "client_id"):
            if not getattr(provider, field):
                raise ValidationFailed(f"{field} is required", field=field)
        if not provider.client_secret_encrypted:
            raise ValidationFailed("client_secret is required", field="client_secret")
    else:
        if "idp_metadata" in changes:
            metadata = v.text(
                changes["idp_metadata"], "idp_metadata", max_len=500_000, required=True
            )
            check_metadata(metadata)
            provider.idp_metadata = metadata
        if not provider.idp_metadata:
            raise ValidationFailed("idp_metadata is required", field="idp_metadata")
    if "rules" in changes:
        provider.rules = _rules(session, changes["rules"])


def create_provider(
    session: Session, data: Mapping[str, Any], *, settings: Settings, check_metadata: Any
) -> SsoProvider:
    """A new identity provider. `check_metadata` validates SAML metadata (saml.py)."""
    kind = v.one_of(data.get("kind"), "kind", KINDS)
    provider = SsoProvider(kind=kind, name="", rules=[])
    _apply(
        session,
        provider,
        {"groups_claim": "groups", **data},
        settings,
        check_metadata=check_metadata,
    )
    if not provider.name:
        raise ValidationFailed("name is required", field="name")
    session.add(provider)
    session.flush()
    record(
        session,
        "sso.provider_created",
        target_type="sso_provider",
        target_id=provider.id,
        target=provider.name,
        detail=describe(provider),
    )
    return provider


def update_provider(
    session: Session,
    provider: SsoProvider,
    changes: Mapping[str, Any],
    *,
    settings: Settings,
    check_metadata: Any,
) -> SsoProvider:
    if "kind" in changes and changes["kind"] != provider.kind:
        raise ValidationFailed("kind cannot change; add another provider", field="kind")
    before = describe(provider)
    _apply(
        session,
        provider,
        {k: val for k, val in changes.items() if k != "kind"},
        settings,
        check_metadata=check_metadata,
    )
    session.flush()
    after = describe(provider)
    record(
        session,
        "sso.provider_updated",
        target_type="sso_provider",
        target_id=provider.id,
        target=provider.name,
        detail={
            "old": {k: val for k, val in before.items() if after.get(k) != val},
            "new": {k: val for k, val in after.items() if before.get(k) != val},
            "client_secret_changed": bool(changes.get("client_secret")),
        },
    )
    return provider


def delete_provider(session: Session, provider: SsoProvider) -> None:
    record(
        session,
        "sso.provider_deleted",
        target_type="sso_provider",
        target_id=provider.id,
        target=provider.name,
    )
    session.delete(provider)
    session.flush()


def describe(provider: SsoProvider) -> dict[str, Any]:
    """The provider's settings as the audit trail records them (never the secret)."""
    return {
        "name": provider.name,
        "kind": provider.kind,
        "enabled": provider.enabled,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "scopes": provider.scopes,
        "metadata_sha256": digest(provider.idp_metadata) if provider.idp_metadata else "",
        "groups_claim": provider.groups_claim,
        "require_group": provider.require_group,
        "default_role": provider.default_role,
        "rules": [{"group": r.group, "role": r.role, "team_id": r.team_id} for r in provider.rules],
    }


# --- sign-ins under way ---------------------------------------------------------------------


def new_state() -> str:
    """A sign-in's state: random, carried by the browser (in the URL and a cookie)."""
    return secrets.token_urlsafe(32)


def begin(
    session: Session,
    provider: SsoProvider,
    *,
    state: str,
    next: str,
    nonce: str = "",
    code_verifier: str = "",
    request_id: str = "",
) -> None:
    """Remember a sign-in sent to `provider` under `state` (only its hash is stored): the
    answer must bring the state back. Expired ones are forgotten."""
    if not provider.enabled:
        raise NotFound(f"no identity provider with id {provider.id}")
    now = utcnow()
    session.execute(delete(SsoPendingLogin).where(SsoPendingLogin.expires_at <= now))
    session.add(
        SsoPendingLogin(
            state_hash=digest(state),
            provider_id=provider.id,
            nonce=nonce,
            code_verifier=code_verifier,
            request_id=request_id,
            next=next,
            expires_at=now + PENDING_TTL,
        )
    )
    session.flush()


def take_pending(
    session: Session, provider: SsoProvider, state: str, cookie: str | None
) -> SsoPendingLogin:
    """The sign-in `state` names, used up: SsoRefused for an unknown, expired or already
    used state, one for another provider, or one this browser did not start."""
    if not state or not cookie or not secrets.compare_digest(state, cookie):
        raise SsoRefused("this sign-in was not started in this browser (wrong state); start again")
    pending = session.scalar(
        select(SsoPendingLogin).where(SsoPendingLogin.state_hash == digest(state))
    )
    if pending is None or pending.provider_id != provider.id:
        raise SsoRefused("unknown or already used sign-in (wrong state); start again")
    session.delete(pending)
    session.flush()
    if pending.expires_at <= utcnow():
        raise SsoRefused("this sign-in took too long; start again")
    return pending


# --- signing in -----------------------------------------------------------------------------


def _name(claims: Claims) -> str:
    name = " ".join(claims.name.split())[:120]
    return name or claims.email.split("@", 1)[0][:120]


def sign_in(
    session: Session, provider: SsoProvider, claims: Claims, *, address: str | None
) -> User:
    """Sign in the person the provider vouches for: their account, created on first sign-in,
    with the role and mapped teams their groups give now. Recorded as `sso.login` (and
    `permission.changed`, by catalog, when the role or a team changes: the changes act as the
    provider, from the person's address)."""
    if not claims.subject:
        raise SsoRefused("the identity provider sent no subject")
    acting(session, Actor(None, f"single sign-on ({provider.name})", "sso", address))
    access = access_for(
        provider.rules,
        claims.groups,
        default_role=provider.default_role,
        require_group=provider.require_group,
    )
    identity = _identity(session, provider, claims.subject)
    created = False
    if identity is None:
        try:
            # A savepoint: a first sign-in of the same person committed meanwhile (two tabs,
            # a double click) makes this one's insert fail; it then signs in to that account.
            with session.begin_nested():
                identity, created = _first_sign_in(session, provider, claims, access.role)
        except IntegrityError as exc:
            identity = _identity(session, provider, claims.subject)
            if identity is None:
                raise SsoRefused(
                    "your account was being created by another sign-in; try again"
                ) from exc
    user = identity.user
    if not user.active:
        raise SsoForbidden("your Tocsin account is deactivated; ask an admin")
    old_role = user.role
    old_teams = {team.id for team in user.teams}
    new_teams = (old_teams - access.managed_team_ids) | access.team_ids
    changes: dict[str, Any] = {}
    if access.role != old_role:
        changes["role"] = access.role
    if new_teams != old_teams:
        changes["team_ids"] = sorted(new_teams)
    if changes:
        catalog.update_user(session, user, changes)
    identity.email = user.email
    identity.groups = "\n".join(sorted(set(claims.groups)))[:10_000]
    identity.last_login_at = utcnow()
    session.flush()
    actor = Actor(user.id, user.email, "sso", address)
    names = {t.id: t.name for t in session.scalars(select(Team)).all()}
    record(
        session,
        "sso.login",
        actor=actor,
        target_type="user",
        target_id=user.id,
        target=user.email,
        detail={
            "provider": provider.name,
            "provider_id": provider.id,
            "kind": provider.kind,
            "subject": claims.subject,
            "created": created,
            "groups": sorted(set(claims.groups)),
            "teams_added": sorted(names.get(t, str(t)) for t in new_teams - old_teams),
            "teams_removed": sorted(names.get(t, str(t)) for t in old_teams - new_teams),
        },
    )
    return user


def _identity(session: Session, provider: SsoProvider, subject: str) -> SsoIdentity | None:
    return session.scalar(
        select(SsoIdentity).where(
            SsoIdentity.provider_id == provider.id, SsoIdentity.subject == subject
        )
    )


def _first_sign_in(
    session: Session, provider: SsoProvider, claims: Claims, role: str
) -> tuple[SsoIdentity, bool]:
    """Link the provider's subject to an account: the one with its (verified) email, or a new
    one. Returns the identity and whether the account is new."""
    try:
        email = v.email(claims.email)
    except ValidationFailed as exc:
        raise SsoForbidden(
            "the identity provider sent no valid email address for your account"
        ) from exc
    created = False
    user = catalog.user_by_email(session, email)
    if user is not None:
        if not claims.email_verified:
            raise SsoForbidden(
                f"an account with the email {email} exists, and the identity provider "
                "does not say that the address is verified"
            )
    else:
        user = catalog.create_user(
            session,
            name=_name(claims),
            email=email,
            role=role,  # the teams are added by the caller, as for everyone
        )
        created = True
    identity = SsoIdentity(provider_id=provider.id, subject=claims.subject, user=user)
    session.add(identity)
    session.flush()
    return identity, created


def last_sign_in(session: Session, user: User) -> datetime | None:
    return session.scalar(
        select(SsoIdentity.last_login_at)
        .where(SsoIdentity.user_id == user.id)
        .order_by(SsoIdentity.last_login_at.desc())
        .limit(1)
    )
