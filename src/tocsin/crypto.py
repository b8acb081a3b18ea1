"""Secrets at rest: credentials Tocsin keeps for other services, encrypted with Fernet.

The key is derived with HKDF-SHA256 from `TOCSIN_ENCRYPTION_KEY`, or from the secret key when
that is empty, so no extra setting is needed to start. Fernet authenticates as well as
encrypts: a value written under another key, or altered in the database, fails to decrypt
(`Undecryptable`) instead of yielding garbage. Each `purpose` derives its own key, so a value
encrypted for one use cannot be passed off as another's.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tocsin.config import Settings

_SALT = b"tocsin.crypto.v1"


class Undecryptable(Exception):
    """The value was encrypted under another key (a changed secret key) or was altered."""


@dataclass(frozen=True)
class Vault:
    """Encrypts and decrypts short strings (tokens, passwords) for one purpose."""

    fernet: Fernet

    @classmethod
    def from_settings(cls, settings: Settings, purpose: str) -> Vault:
        """The vault for `purpose` ("trackers", "chat", …) under this install's key."""
        material = (settings.encryption_key or settings.secret_key).encode()
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose.encode()).derive(
            material
        )
        return cls(Fernet(base64.urlsafe_b64encode(key)))

    def encrypt(self, plaintext: str) -> str:
        """A Fernet token (URL-safe base64 text) holding `plaintext`."""
        return self.fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of `token`; `Undecryptable` if it was not encrypted by this vault."""
        try:
            return self.fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError, ValueError) as exc:
            raise Undecryptable(
                "a stored credential cannot be decrypted (was TOCSIN_SECRET_KEY or "
                "TOCSIN_ENCRYPTION_KEY changed?); enter it again"
            ) from exc
