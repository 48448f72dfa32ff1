"""Encryption at rest for credentials the product must reuse (webhook HMAC secrets, later SSH/AWS/SMTP).

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from the server's secret key by HKDF, so one
configured secret protects everything. Rotating the server secret needs a re-encryption (not yet built).
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"alertwhisperer/encryption-at-rest/v1"


class DecryptionError(Exception):
    pass


@lru_cache(maxsize=8)
def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str, plaintext: str) -> str:
    return _fernet(secret).encrypt(plaintext.encode()).decode()


def decrypt(secret: str, token: str) -> str:
    try:
        return _fernet(secret).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("cannot decrypt: wrong server secret key or corrupted value") from exc
