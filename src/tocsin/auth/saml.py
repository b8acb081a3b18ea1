"""SAML 2.0 sign-in as a service provider, with pysaml2's documented SP API (`Saml2Client`).

Tocsin sends an AuthnRequest with the HTTP-Redirect binding and takes the answer at its
assertion consumer service (ACS) with the HTTP-POST binding. pysaml2 checks the response
against the identity provider's metadata: the assertion's signature (required: an unsigned
or altered assertion is refused), the audience (this SP's entity id), the recipient and
destination (the ACS URL), the validity window (NotBefore, NotOnOrAfter) and that it answers
the request this sign-in sent (InResponseTo; unsolicited responses are refused). Tocsin adds
the replay check: each assertion id is kept until the assertion expires, and the same id
posted again is refused.

Signature checks run Debian's `xmlsec1`. These calls are CPU-bound and spawn processes:
callers run them in a thread.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.auth.sso import Claims, SsoRefused
from tocsin.auth.sso_models import SsoPendingLogin, SsoProvider, SsoUsedAssertion
from tocsin.db import utcnow
from tocsin.errors import ValidationFailed

# Clock skew allowed between Tocsin and the identity provider.
ACCEPTED_SKEW_SECONDS = 60
# An assertion without NotOnOrAfter is remembered this long.
DEFAULT_REMEMBER = timedelta(hours=1)
EMAIL_ATTRIBUTES = ("email", "mail", "emailAddress", "urn:oid:0.9.2342.19200300.100.1.3")
NAME_ATTRIBUTES = ("name", "displayName", "cn", "urn:oid:2.16.840.1.113730.3.1.241")


@dataclass(frozen=True)
class Urls:
    """This service provider's URLs for one identity provider."""

    entity_id: str  # also where its metadata is served
    acs: str


def urls(provider_id: int, base_url: str) -> Urls:
    base = base_url.rstrip("/")
    return Urls(
        entity_id=f"{base}/sso/{provider_id}/saml/metadata.xml",
        acs=f"{base}/sso/{provider_id}/saml/acs",
    )


def _xmlsec() -> str:
    found = shutil.which("xmlsec1")
    if found is None:
        raise RuntimeError("SAML sign-in needs the xmlsec1 program (apt-get install xmlsec1)")
    return found


def _config(idp_metadata: str | None, sp: Urls) -> SPConfig:
    settings: dict[str, Any] = {
        "entityid": sp.entity_id,
        "xmlsec_binary": _xmlsec(),
        "accepted_time_diff": ACCEPTED_SKEW_SECONDS,
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "name": "Tocsin",
                "endpoints": {"assertion_consumer_service": [(sp.acs, BINDING_HTTP_POST)]},
                "allow_unsolicited": False,
                "authn_requests_signed": False,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "name_id_format": NAMEID_FORMAT_PERSISTENT,
            }
        },
    }
    if idp_metadata:
        settings["metadata"] = {"inline": [idp_metadata]}
    config = SPConfig()
    config.load(settings)
    return config


def check_metadata(metadata: str) -> None:
    """ValidationFailed unless `metadata` is SAML metadata of exactly one identity provider
    with a single sign-on service and a signing certificate."""
    try:
        config = _config(metadata, urls(0, "http://check.invalid"))
        assert config.metadata is not None  # noqa: S101 - loaded just above
        idps = list(config.metadata.identity_providers())
    except Exception as exc:  # noqa: BLE001 - pysaml2 raises many kinds for bad XML
        raise ValidationFailed(
            f"idp_metadata is not SAML metadata: {exc.__class__.__name__}", field="idp_metadata"
        ) from exc
    if len(idps) != 1:
        raise ValidationFailed(
            f"idp_metadata must describe one identity provider (found {len(idps)})",
            field="idp_metadata",
        )
    if not config.metadata.certs(idps[0], "idpsso", "signing"):
        raise ValidationFailed(
            "idp_metadata has no signing certificate for the identity provider",
            field="idp_metadata",
        )


def sp_metadata(provider_id: int, base_url: str) -> str:
    """This service provider's metadata, to give the identity provider."""
    config = _config(None, urls(provider_id, base_url))
    return create_metadata_string(None, config=config, sign=False).decode()


def _client(provider: SsoProvider, base_url: str) -> Saml2Client:
    return Saml2Client(config=_config(provider.idp_metadata, urls(provider.id, base_url)))


@dataclass(frozen=True)
class Start:
    url: str
    request_id: str


def authn_request(provider: SsoProvider, *, base_url: str, relay_state: str) -> Start:
    """Where to send the browser: the identity provider with an AuthnRequest."""
    client = _client(provider, base_url)
    assert client.metadata is not None  # noqa: S101 - loaded from the provider
    idp = next(iter(client.metadata.identity_providers()))
    request_id, info = client.prepare_for_authenticate(
        entityid=idp, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT
    )
    location = dict(info["headers"])["Location"]
    return Start(url=location, request_id=str(request_id))


def _first(ava: dict[str, list[Any]], names: tuple[str, ...]) -> str:
    for name in names:
        values = ava.get(name)
        if values:
            return str(values[0])
    return ""


def consume(
    session: Session,
    provider: SsoProvider,
    pending: SsoPendingLogin,
    *,
    saml_response: str,
    base_url: str,
) -> Claims:
    """Check the POSTed SAMLResponse and remember its assertion id: who signed in."""
    if not saml_response:
        raise SsoRefused("no SAMLResponse was posted")
    client = _client(provider, base_url)
    try:
        response = client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={pending.request_id: pending.next}
        )
    except Exception as exc:  # noqa: BLE001 - pysaml2 raises a class per failed check
        raise SsoRefused(
            f"the SAML response was refused ({exc.__class__.__name__}: {str(exc)[:200]})"
        ) from exc
    if response is None or response.assertion is None:
        raise SsoRefused("the SAML response holds no assertion this service provider can read")
    if getattr(response, "in_response_to", None) != pending.request_id:
        raise SsoRefused("the SAML response answers another sign-in")
    assertion_id = str(response.assertion.id or "")
    if not assertion_id:
        raise SsoRefused("the SAML assertion has no id")
    remember_assertion(session, provider, assertion_id, getattr(response, "not_on_or_after", 0))
    name_id = response.name_id
    subject = str(getattr(name_id, "text", "") or "").strip()
    ava: dict[str, list[Any]] = dict(response.ava or {})
    groups = tuple(str(g) for g in ava.get(provider.groups_claim, []) if g)
    email = _first(ava, EMAIL_ATTRIBUTES)
    if not email and "@" in subject:
        email = subject
    return Claims(subject=subject, email=email, name=_first(ava, NAME_ATTRIBUTES), groups=groups)


def remember_assertion(
    session: Session, provider: SsoProvider, assertion_id: str, until: Any
) -> None:
    """Keep `assertion_id` until the assertion expires; SsoRefused if it was used already."""
    now = utcnow()
    session.execute(delete(SsoUsedAssertion).where(SsoUsedAssertion.expires_at <= now))
    used = session.scalar(
        select(SsoUsedAssertion).where(
            SsoUsedAssertion.provider_id == provider.id,
            SsoUsedAssertion.assertion_id == assertion_id[:255],
        )
    )
    if used is not None:
        raise SsoRefused("this SAML assertion was used already (a replay)")
    expires = now + DEFAULT_REMEMBER
    if isinstance(until, int | float) and until > 0:
        expires = max(expires, datetime.fromtimestamp(until, UTC) + timedelta(seconds=60))
    try:
        with session.begin_nested():
            session.add(
                SsoUsedAssertion(
                    provider_id=provider.id, assertion_id=assertion_id[:255], expires_at=expires
                )
            )
    except IntegrityError as exc:  # the same assertion posted twice at once
        raise SsoRefused("this SAML assertion was used already (a replay)") from exc
