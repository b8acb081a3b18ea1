"""OpenID Connect sign-in (the authorization code flow) with Authlib's client.

The provider's discovery document (`<issuer>/.well-known/openid-configuration`) names its
endpoints and keys; its `issuer` must be the one configured. The browser is sent to the
authorization endpoint with a state, a nonce and a PKCE challenge (S256); the code it brings
back is exchanged at the token endpoint with the client secret and the PKCE verifier; the ID
token's signature is checked against the provider's JWKS, and its `iss`, `aud`, `exp`, `iat`
and `nonce`. Claims the ID token lacks (email, name, groups) are read from the userinfo
endpoint, whose `sub` must be the ID token's.

Every request to the provider passes the outbound guard first (`tocsin.outbound`), follows no
redirect and is bounded in time and size. These calls block: callers run them in a thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from tocsin.auth.sso import Claims, SsoRefused
from tocsin.auth.sso_models import SsoPendingLogin, SsoProvider
from tocsin.outbound import OutboundGuard, OutboundRefused

TIMEOUT_SECONDS = 10.0
MAX_BYTES = 1_000_000
# Clock skew allowed between Tocsin and the provider when checking exp and iat.
LEEWAY_SECONDS = 60


class ProviderUnavailable(SsoRefused):
    """The provider could not be reached or answered something unusable."""


@dataclass(frozen=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    algorithms: tuple[str, ...]


def _guarded(url: str, guard: OutboundGuard) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ProviderUnavailable(f"the identity provider named a URL that is not http(s): {url}")
    try:
        guard.check_host(parsed.hostname, parsed.port)
    except (OutboundRefused, ValueError) as exc:
        reason = exc.reason if isinstance(exc, OutboundRefused) else str(exc)
        raise ProviderUnavailable(f"cannot reach the identity provider: {reason}") from exc
    return url


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise ProviderUnavailable(f"the identity provider's {what} answered {response.status_code}")
    if len(response.content) > MAX_BYTES:
        raise ProviderUnavailable(f"the identity provider's {what} is too large")
    try:
        found = response.json()
    except ValueError as exc:
        raise ProviderUnavailable(f"the identity provider's {what} is not JSON") from exc
    if not isinstance(found, dict):
        raise ProviderUnavailable(f"the identity provider's {what} is not a JSON object")
    return found


def _get(url: str, guard: OutboundGuard, what: str, **kwargs: Any) -> dict[str, Any]:
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as http:
            return _json(http.get(_guarded(url, guard), **kwargs), what)
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(
            f"cannot reach the identity provider's {what} ({exc.__class__.__name__})"
        ) from exc


def discover(provider: SsoProvider, guard: OutboundGuard) -> Discovery:
    """The provider's endpoints from its discovery document."""
    document = _get(
        f"{provider.issuer.rstrip('/')}/.well-known/openid-configuration",
        guard,
        "discovery document",
    )
    if document.get("issuer", "").rstrip("/") != provider.issuer.rstrip("/"):
        raise ProviderUnavailable(
            f"the discovery document names the issuer {document.get('issuer')!r}, "
            f"not {provider.issuer!r}"
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(key), str):
            raise ProviderUnavailable(f"the discovery document has no {key}")
    algorithms = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    return Discovery(
        issuer=document["issuer"],
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        userinfo_endpoint=str(document.get("userinfo_endpoint") or ""),
        # Never "none": an unsigned ID token is refused whatever the document says.
        algorithms=tuple(a for a in algorithms if isinstance(a, str) and a != "none"),
    )


def _client(provider: SsoProvider, secret: str, redirect_uri: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=provider.client_id,
        client_secret=secret,
        scope=provider.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=TIMEOUT_SECONDS,
        follow_redirects=False,
    )


@dataclass(frozen=True)
class Start:
    url: str
    nonce: str
    code_verifier: str


def authorization(
    provider: SsoProvider,
    *,
    secret: str,
    redirect_uri: str,
    state: str,
    guard: OutboundGuard,
) -> Start:
    """Where to send the browser: the authorization endpoint with state, nonce and PKCE."""
    found = discover(provider, guard)
    nonce, verifier = generate_token(32), generate_token(64)
    with _client(provider, secret, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            found.authorization_endpoint, state=state, code_verifier=verifier, nonce=nonce
        )
    return Start(url=url, nonce=nonce, code_verifier=verifier)


def finish(
    provider: SsoProvider,
    pending: SsoPendingLogin,
    *,
    code: str,
    secret: str,
    redirect_uri: str,
    guard: OutboundGuard,
) -> Claims:
    """Exchange the code and check the ID token: who signed in."""
    if not code:
        raise SsoRefused("the identity provider sent no authorization code")
    found = discover(provider, guard)
    with _client(provider, secret, redirect_uri) as client:
        try:
            token = client.fetch_token(
                _guarded(found.token_endpoint, guard),
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
            )
        except AuthlibBaseError as exc:
            raise SsoRefused(
                f"the identity provider refused the code: {exc.error or 'error'}"
                + (f" ({exc.description})" if exc.description else "")
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"cannot reach the identity provider's token endpoint ({exc.__class__.__name__})"
            ) from exc
        if not isinstance(token, dict) or not isinstance(token.get("id_token"), str):
            raise SsoRefused("the identity provider sent no ID token")
        claims = _id_token(provider, found, token, pending.nonce, guard)
        info: dict[str, Any] = {}
        if found.userinfo_endpoint:
            info = _get(
                found.userinfo_endpoint,
                guard,
                "userinfo endpoint",
                headers={"Authorization": f"Bearer {token['access_token']}"},
            )
            if info.get("sub") != claims["sub"]:
                raise SsoRefused("the userinfo endpoint answered for another subject")
    merged = {**info, **dict(claims)}
    return Claims(
        subject=str(claims["sub"]),
        email=str(merged.get("email") or ""),
        name=str(merged.get("name") or merged.get("preferred_username") or ""),
        groups=_groups(merged.get(provider.groups_claim)),
        email_verified=merged.get("email_verified") is not False,
    )


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(item) for item in value if isinstance(item, str | int))
    return ()


def _id_token(
    provider: SsoProvider,
    found: Discovery,
    token: dict[str, Any],
    nonce: str,
    guard: OutboundGuard,
) -> CodeIDToken:
    keys = _get(found.jwks_uri, guard, "JWKS")
    try:
        decoded = jwt.decode(
            token["id_token"],
            key=KeySet.import_key_set(keys),  # type: ignore[arg-type]
            registry=JWSRegistry(algorithms=list(found.algorithms)),
        )
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": found.issuer},
                "aud": {"essential": True, "value": provider.client_id},
                "sub": {"essential": True},
                "exp": {"essential": True},
            },
            {
                "nonce": nonce,
                "client_id": provider.client_id,
                "access_token": token.get("access_token"),
            },
        )
        claims.validate(leeway=LEEWAY_SECONDS)
    except (JoseError, ValueError, json.JSONDecodeError) as exc:
        raise SsoRefused(f"the ID token is not valid: {exc}") from exc
    return claims
