"""A SAML 2.0 identity provider for the tests: pysaml2's `Server` behind a small WSGI app on
loopback. It signs in whoever the test says (`IdP.person`) without asking, and answers the
AuthnRequest (HTTP-Redirect) with a response for the HTTP-POST binding: an HTML form holding
SAMLResponse and RelayState. Its key and certificate are made at test time."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

from tests.conftest import free_port


def key_and_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A new RSA key and a self-signed certificate for it, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@dataclass
class IdP:
    url: str
    entity_id: str
    key_file: Path
    cert_file: Path
    person: dict[str, Any] = field(default_factory=dict)
    sign: bool = True
    server: Server | None = None

    def config(self, sp_metadata: str | None = None) -> IdPConfig:
        settings: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(f"{self.url}/sso", BINDING_HTTP_REDIRECT)]
                    },
                    "policy": {"default": {"lifetime": {"minutes": 5}, "sign_assertion": True}},
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                }
            },
        }
        if sp_metadata:
            settings["metadata"] = {"inline": [sp_metadata]}
        config = IdPConfig()
        config.load(settings)
        return config

    def metadata(self) -> str:
        return create_metadata_string(None, config=self.config(), sign=False).decode()

    def trust(self, sp_metadata: str) -> None:
        """Know the service provider (Tocsin) from its metadata."""
        self.server = Server(config=self.config(sp_metadata))

    def answer(self, saml_request: str, relay_state: str) -> str:
        """The HTML form carrying the signed (or, with `sign` off, unsigned) response."""
        assert self.server is not None
        request = self.server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        args = self.server.response_args(request.message, [BINDING_HTTP_POST])
        person = self.person
        response = self.server.create_authn_response(
            {
                "email": [person["email"]],
                "displayName": [person["name"]],
                "groups": list(person["groups"]),
            },
            userid=person["subject"],
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=person["subject"]),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            sign_assertion=self.sign,
            sign_response=False,
            **args,
        )
        http = self.server.apply_binding(
            BINDING_HTTP_POST, str(response), args["destination"], relay_state, response=True
        )
        return str(http["data"])

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        page = self.answer(query["SAMLRequest"][0], query.get("RelayState", [""])[0])
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page.encode()]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


@contextmanager
def running_idp(directory: Path) -> Iterator[IdP]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    key_file, cert_file = key_and_certificate(directory, "idp")
    idp = IdP(url=url, entity_id=f"{url}/metadata", key_file=key_file, cert_file=cert_file)
    server: WSGIServer = make_server("127.0.0.1", port, idp.wsgi, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
