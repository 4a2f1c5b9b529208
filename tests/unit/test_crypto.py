"""Secrets at rest: AES-GCM bound to its context; tokens hashed."""

from __future__ import annotations

import pytest

from bridge.crypto import DecryptionFailed, Vault, hash_token, new_api_token


def test_round_trip():
    vault = Vault("operator secret 0123456789")
    sealed = vault.encrypt("hunter2", "account:a:imap:password")
    assert "hunter2" not in sealed
    assert vault.decrypt(sealed, "account:a:imap:password") == "hunter2"


def test_same_plaintext_encrypts_differently():
    vault = Vault("operator secret 0123456789")
    assert vault.encrypt("x", "c") != vault.encrypt("x", "c")


def _flip(token: str, at: int) -> str:
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]


@pytest.mark.parametrize(
    "attack",
    [
        lambda v, t: v.decrypt(t, "account:b:imap:password"),  # moved to another account
        lambda v, t: Vault("another secret 0123456789").decrypt(t, "account:a:imap:password"),
        # One character of the ciphertext body changed. Not the last ones: base64's final character
        # carries padding bits, and changing only those decodes to the same bytes (~1 run in 16 failed).
        lambda v, t: v.decrypt(_flip(t, len(t) // 2), "account:a:imap:password"),
        lambda v, t: v.decrypt("v9." + t[3:], "account:a:imap:password"),
        lambda v, t: v.decrypt("v1.@@@", "account:a:imap:password"),
    ],
)
def test_tampering_wrong_key_or_context_fail(attack):
    vault = Vault("operator secret 0123456789")
    sealed = vault.encrypt("hunter2", "account:a:imap:password")
    with pytest.raises(DecryptionFailed):
        attack(vault, sealed)


def test_tokens_are_random_prefixed_and_hash_stably():
    a, b = new_api_token(), new_api_token()
    assert a != b and a.startswith("mb_") and len(a) > 40
    assert hash_token(a) == hash_token(a) != hash_token(b)
    assert len(hash_token(a)) == 64
