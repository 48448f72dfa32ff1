"""Optional per-company HMAC-SHA256 webhook signatures, with replay protection.

``X-Signature: sha256=<hex of HMAC(secret, "{X-Timestamp}.{raw body}")>``, ``X-Timestamp`` in unix
seconds, accepted within ±300 s of our clock; comparison is constant-time; a signature accepted once is
refused as a replay for the rest of the window. The seen signature is written in the same transaction
as the delivery, so a delivery that failed (and is retried by its sender) is not mistaken for a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer import crypto
from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.errors import Conflict, NotFound, Unauthenticated
from alertwhisperer.ingest.adapters.base import header
from alertwhisperer.ingest.models import SeenSignature, WebhookSecret
from alertwhisperer.tenants.models import Company

WINDOW = timedelta(seconds=300)
DEFAULT_GRACE = timedelta(hours=24)
PREFIX = "sha256="


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return PREFIX + mac.hexdigest()


@dataclass(frozen=True)
class RotatedSecret:
    secret: str
    previous_valid_until: datetime | None


async def rotate(session: AsyncSession, *, actor: Principal, clock: Clock, server_secret: str, company_id: str,
                 grace: timedelta = DEFAULT_GRACE) -> RotatedSecret:
    """New signing secret (shown once). The old one keeps working for ``grace`` so senders can switch."""
    actor.require_company_admin(company_id, "manage webhook signing secrets")
    if await session.get(Company, company_id) is None:
        raise NotFound("company not found")
    now = clock.now()
    value = "whsec_" + secrets.token_urlsafe(32)
    row = await session.get(WebhookSecret, company_id)
    until = None
    if row is None:
        row = WebhookSecret(company_id=company_id, secret_enc=crypto.encrypt(server_secret, value), rotated_at=now)
        session.add(row)
    else:
        until = now + grace if grace.total_seconds() > 0 else None
        row.previous_enc, row.previous_valid_until = (row.secret_enc, until) if until else (None, None)
        row.secret_enc = crypto.encrypt(server_secret, value)
        row.rotated_at = now
    await audit.record(session, clock=clock, actor=actor, action="company.webhook_secret_rotated",
                       company_id=company_id, target_type="company", target_id=company_id,
                       details={"previous_valid_until": until.isoformat() if until else None})
    await session.flush()
    return RotatedSecret(value, until)


async def remove(session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str) -> None:
    actor.require_company_admin(company_id, "manage webhook signing secrets")
    row = await session.get(WebhookSecret, company_id)
    if row is None:
        raise NotFound("no signing secret configured")
    await session.delete(row)
    await audit.record(session, clock=clock, actor=actor, action="company.webhook_secret_removed",
                       company_id=company_id, target_type="company", target_id=company_id)
    await session.flush()


async def status(session: AsyncSession, *, actor: Principal, company_id: str) -> WebhookSecret | None:
    actor.require_company(company_id)
    return await session.get(WebhookSecret, company_id)


@dataclass(frozen=True)
class SecretSnapshot:
    """What checking a signature needs from a company's WebhookSecret row (cacheable, no session)."""

    secret_enc: str
    previous_enc: str | None
    previous_valid_until: datetime | None

    @classmethod
    def of(cls, row: WebhookSecret) -> SecretSnapshot:
        return cls(row.secret_enc, row.previous_enc, row.previous_valid_until)


@dataclass(frozen=True)
class CheckedSignature:
    digest: str  # SHA-256 of the signature header: the replay key
    expires_at: datetime  # end of this signature's window


def check(*, secret: SecretSnapshot | None, now: datetime, server_secret: str, headers: Mapping[str, str],
          body: bytes, required: bool) -> CheckedSignature | None:
    """The pure part of verification: None when unsigned (and allowed); raises Unauthenticated when wrong.

    The caller records the returned digest in the delivery's transaction and refuses a digest seen before
    (a replay) with 409.
    """
    given = header(headers, "x-signature")
    if secret is None:
        return None
    if not given:
        if required:
            raise Unauthenticated("this company requires signed webhooks: send X-Signature and X-Timestamp")
        return None
    stamp = (header(headers, "x-timestamp") or "").strip()
    if not stamp.isdigit():
        raise Unauthenticated("X-Timestamp must be unix seconds when X-Signature is sent")
    sent = datetime.fromtimestamp(int(stamp), tz=now.tzinfo)
    if abs(now - sent) > WINDOW:
        raise Unauthenticated(f"X-Timestamp is outside the ±{int(WINDOW.total_seconds())} s window")
    candidates = [secret.secret_enc]
    if secret.previous_enc and secret.previous_valid_until and secret.previous_valid_until > now:
        candidates.append(secret.previous_enc)
    given = given.strip()
    ok = False
    for enc in candidates:
        expected = sign(crypto.decrypt(server_secret, enc), stamp, body)
        ok = hmac.compare_digest(expected.encode(), given.encode()) or ok
    if not ok:
        raise Unauthenticated("signature does not match (HMAC-SHA256 of '{X-Timestamp}.{raw body}')")
    return CheckedSignature(hashlib.sha256(given.encode()).hexdigest(), sent + WINDOW)


REPLAY_MESSAGE = "replayed request: this signature was already accepted"


async def verify(session: AsyncSession, *, clock: Clock, server_secret: str, company: Company,
                 headers: Mapping[str, str], body: bytes, required: bool) -> bool:
    """Check the signature when the company has a secret. Returns whether the request was signed."""
    row = await session.get(WebhookSecret, company.id)
    checked = check(secret=SecretSnapshot.of(row) if row else None, now=clock.now(), server_secret=server_secret,
                    headers=headers, body=body, required=required)
    if checked is None:
        return False
    try:
        async with session.begin_nested():
            session.add(SeenSignature(company_id=company.id, signature=checked.digest,
                                      expires_at=checked.expires_at))
    except IntegrityError as exc:
        raise Conflict(REPLAY_MESSAGE) from exc
    return True


async def purge_seen(session: AsyncSession, *, clock: Clock) -> int:
    result = await session.execute(delete(SeenSignature).where(SeenSignature.expires_at <= clock.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
