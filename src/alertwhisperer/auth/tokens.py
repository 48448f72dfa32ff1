"""Access tokens (JWT, HS256, short-lived, bound to a login session) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"
AUDIENCE = "alertwhisperer"


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    expires_at: datetime


class TokenError(Exception):
    pass


def issue_access_token(*, secret: str, user_id: str, session_id: str, now: datetime,
                       lifetime: timedelta) -> tuple[str, datetime]:
    expires = now + lifetime
    payload = {"sub": user_id, "sid": session_id, "iat": int(now.timestamp()),
               "exp": int(expires.timestamp()), "aud": AUDIENCE, "typ": "access"}
    return jwt.encode(payload, secret, algorithm=ALGORITHM), expires


def decode_access_token(token: str, *, secret: str, now: datetime) -> AccessClaims:
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE,
                             options={"verify_exp": False, "require": ["sub", "sid", "exp"]})
    except jwt.PyJWTError as exc:
        raise TokenError("invalid access token") from exc
    if payload.get("typ") != "access":
        raise TokenError("not an access token")
    exp = int(payload["exp"])
    if now.timestamp() >= exp:  # checked against our (injectable) clock, not the wall clock
        raise TokenError("access token expired")
    return AccessClaims(user_id=str(payload["sub"]), session_id=str(payload["sid"]),
                        expires_at=datetime.fromtimestamp(exp, tz=now.tzinfo))


def new_refresh_token() -> str:
    return "awr_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """High-entropy tokens and API keys: a SHA-256 digest is enough and allows indexed lookup."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_key() -> str:
    return "aw_" + secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)
