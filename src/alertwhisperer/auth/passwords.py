"""Password hashing (argon2 via pwdlib) and the password policy (length + zxcvbn common-password check)."""

from __future__ import annotations

import re
from functools import lru_cache

from pwdlib import PasswordHash
from zxcvbn import zxcvbn

from alertwhisperer.errors import Invalid

MAX_LENGTH = 256
MIN_SCORE = 3


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return str(_hasher().hash(password))


def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """(valid, new hash if the stored one should be upgraded)."""
    ok, updated = _hasher().verify_and_update(password, password_hash)
    return bool(ok), updated


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Verified against when the user does not exist, so timing does not reveal which emails exist."""
    return hash_password("not-a-real-password-0b8f2c")


def check_password_policy(password: str, *, min_length: int, user_inputs: list[str] | None = None) -> None:
    if len(password) < min_length:
        raise Invalid(f"password must be at least {min_length} characters", field="password")
    if len(password) > MAX_LENGTH:
        raise Invalid(f"password must be at most {MAX_LENGTH} characters", field="password")
    _check_not_email(password, user_inputs or [])
    result = zxcvbn(password[:100], user_inputs=[u for u in (user_inputs or []) if u])
    common = any(m.get("dictionary_name") == "passwords" and len(m.get("token", "")) >= len(password) - 2
                 for m in result["sequence"])
    if common or result["score"] < MIN_SCORE:
        warning = result["feedback"].get("warning") or "This password is too easy to guess."
        hint = " ".join(result["feedback"].get("suggestions") or [])
        raise Invalid(f"password is too common or guessable: {warning} {hint}".strip(), field="password")


def _alnum(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())


def _check_not_email(password: str, user_inputs: list[str]) -> None:
    """zxcvbn only penalises a user input that makes up most of the password; refuse any containment."""
    flat = _alnum(password)
    for value in user_inputs:
        if "@" not in value:
            continue
        local = _alnum(value.split("@", 1)[0])
        if value.lower() in password.lower() or (len(local) >= 4 and local in flat):
            raise Invalid("password must not contain your email address", field="password")
