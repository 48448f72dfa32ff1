"""The production password hashing parameters (the other tests run argon2id at a cheaper cost)."""

from __future__ import annotations

import pytest

from alertwhisperer.auth import passwords


@pytest.fixture(autouse=True)
def cheap_argon2() -> None:
    """Overrides the package-wide fixture: this module checks the real parameters."""


def test_passwords_are_hashed_with_argon2id_at_production_cost() -> None:
    hashed = passwords.hash_password("Correct-Horse-Battery-42")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "Correct-Horse-Battery-42" not in hashed
    assert passwords.verify_password("Correct-Horse-Battery-42", hashed) == (True, None)
    assert passwords.verify_password("Correct-Horse-Battery-43", hashed)[0] is False
    assert passwords.hash_password("Correct-Horse-Battery-42") != hashed  # salted


def test_weaker_stored_hashes_are_upgraded_on_login() -> None:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)).hash("Correct-Horse-Battery-42")
    ok, upgraded = passwords.verify_password("Correct-Horse-Battery-42", weak)
    assert ok and upgraded is not None and upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
