"""crypto.Vault: credentials encrypted at rest, readable only under the same key and purpose."""

from __future__ import annotations

import pytest

from tocsin.config import Settings
from tocsin.crypto import Undecryptable, Vault


def test_a_value_round_trips_and_is_not_stored_as_is() -> None:
    vault = Vault.from_settings(Settings(secret_key="k1"), "trackers")
    token = vault.encrypt("glpat-secret")
    assert "glpat-secret" not in token
    assert vault.decrypt(token) == "glpat-secret"
    assert vault.encrypt("glpat-secret") != token  # a fresh IV each time


def test_the_encryption_key_setting_wins_over_the_secret_key() -> None:
    token = Vault.from_settings(Settings(secret_key="a", encryption_key="e"), "trackers").encrypt(
        "x"
    )
    assert (
        Vault.from_settings(Settings(secret_key="b", encryption_key="e"), "trackers").decrypt(token)
        == "x"
    )


@pytest.mark.parametrize(
    ("settings", "purpose"),
    [(Settings(secret_key="other"), "trackers"), (Settings(secret_key="k1"), "chat")],
)
def test_another_key_or_purpose_cannot_decrypt(settings: Settings, purpose: str) -> None:
    token = Vault.from_settings(Settings(secret_key="k1"), "trackers").encrypt("x")
    with pytest.raises(Undecryptable, match="enter it again"):
        Vault.from_settings(settings, purpose).decrypt(token)
    with pytest.raises(Undecryptable):
        Vault.from_settings(Settings(secret_key="k1"), "trackers").decrypt(token[:-4] + "AAAA")
