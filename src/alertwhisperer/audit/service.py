"""Append to, query, export and verify the audit log."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit.chain import GENESIS, entry_hash
from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.audit.schemas import AuditEntryOut, ChainReport
from alertwhisperer.auth.principal import Principal, RequestContext, Role
from alertwhisperer.clock import Clock

AUDIT_LOCK_KEY = 0x417564  # pg advisory lock id for the chain head

SECRET_MARKERS = ("password", "secret", "token", "api_key", "apikey", "private_key", "credential")


def _scrub(details: dict[str, Any]) -> dict[str, Any]:
    """Never let a secret reach the audit log, whatever a caller passes."""
    clean: dict[str, Any] = {}
    for key, value in details.items():
        if any(m in key.lower() for m in SECRET_MARKERS) and not key.endswith(("_prefix", "_changed")):
            clean[key] = "[redacted]"
        elif isinstance(value, dict):
            clean[key] = _scrub(value)
        else:
            clean[key] = value
    return clean


async def _lock_head(session: AsyncSession) -> None:
    """Serialise appenders until this transaction ends (SQLite already is: BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})


async def record(session: AsyncSession, *, clock: Clock, action: str, actor: Principal | None = None,
                 context: RequestContext | None = None, company_id: str | None = None,
                 target_type: str | None = None, target_id: str | None = None,
                 details: dict[str, Any] | None = None, actor_email: str | None = None) -> AuditEntry:
    """Add an entry in the caller's transaction: it lands if and only if the change it records does."""
    await _lock_head(session)
    last = (await session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    )).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    ip = actor.ip if actor else (context.ip if context else None)
    ua = actor.user_agent if actor else (context.user_agent if context else None)
    fields: dict[str, Any] = {
        "seq": seq, "at": clock.now(), "actor_id": actor.user_id if actor else None,
        "actor_email": actor.email if actor else actor_email,
        "actor_role": actor.role.value if actor else None, "company_id": company_id,
        "action": action, "target_type": target_type, "target_id": target_id,
        "details": _scrub(details or {}), "ip": ip, "user_agent": (ua or None) and ua[:300],
    }
    entry = AuditEntry(**fields, prev_hash=prev, hash=entry_hash(**fields, prev_hash=prev))
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None  # user id or email
    action: str | None = None  # exact, or prefix ending with '.'
    company_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _scoped(actor: Principal, flt: AuditFilter) -> Select[AuditEntry]:
    actor.require_role(Role.MSP_ADMIN, Role.COMPANY_ADMIN, action="read the audit log")
    stmt = select(AuditEntry)
    if not actor.is_msp_admin:
        stmt = stmt.where(AuditEntry.company_id.in_(actor.company_ids))
    if flt.company_id:
        actor.require_company(flt.company_id)
        stmt = stmt.where(AuditEntry.company_id == flt.company_id)
    if flt.actor:
        stmt = stmt.where((AuditEntry.actor_id == flt.actor) | (AuditEntry.actor_email == flt.actor.lower()))
    if flt.action:
        if flt.action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(flt.action))
        else:
            stmt = stmt.where(AuditEntry.action == flt.action)
    if flt.since:
        stmt = stmt.where(AuditEntry.at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEntry.at < flt.until)
    return stmt


async def list_entries(session: AsyncSession, *, actor: Principal, flt: AuditFilter, limit: int = 50,
                       offset: int = 0) -> tuple[list[AuditEntry], int]:
    stmt = _scoped(actor, flt)
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = (await session.execute(
        stmt.order_by(AuditEntry.seq.desc()).limit(min(limit, 500)).offset(offset)
    )).scalars().all()
    return list(rows), int(total)


async def list_actions(session: AsyncSession) -> list[str]:
    return list((await session.execute(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
                .scalars().all())


EXPORT_FIELDS = ["seq", "at", "actor_id", "actor_email", "actor_role", "company_id", "action",
                 "target_type", "target_id", "details", "ip", "user_agent", "hash"]


async def export(session: AsyncSession, *, actor: Principal, flt: AuditFilter,
                 fmt: str) -> AsyncIterator[str]:
    """Stream the filtered log as CSV or JSON (an array), oldest first, in chunks."""
    stmt = _scoped(actor, flt).order_by(AuditEntry.seq).execution_options(yield_per=500)
    result = await session.stream_scalars(stmt)
    if fmt == "json":
        yield "["
        first = True
        async for entry in result:
            data = AuditEntryOut.model_validate(entry).model_dump(mode="json")
            yield ("" if first else ",") + "\n" + json.dumps(data, ensure_ascii=False)
            first = False
        yield "\n]\n"
        return
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(EXPORT_FIELDS)
    async for entry in result:
        data = AuditEntryOut.model_validate(entry).model_dump(mode="json")
        data["details"] = json.dumps(data["details"], sort_keys=True)
        writer.writerow([_csv_safe(data[f]) for f in EXPORT_FIELDS])
        if buf.tell() > 64_000:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formula injection in exported text cells."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def verify_chain(session: AsyncSession, *, batch: int = 2000) -> ChainReport:
    """Recompute every hash in order; name the first entry whose content, link or sequence is wrong."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    while True:
        rows = (await session.execute(
            select(AuditEntry).where(AuditEntry.seq > last_seq).order_by(AuditEntry.seq).limit(batch)
        )).scalars().all()
        if not rows:
            return ChainReport(ok=True, checked=checked)
        for e in rows:
            if e.seq != expected_seq:
                return ChainReport(ok=False, checked=checked, first_broken_seq=e.seq,
                                   problem=f"sequence gap: expected entry {expected_seq}, found {e.seq}")
            if e.prev_hash != prev:
                return ChainReport(ok=False, checked=checked, first_broken_seq=e.seq,
                                   problem="link to the previous entry does not match")
            recomputed = entry_hash(seq=e.seq, at=e.at, actor_id=e.actor_id, actor_email=e.actor_email,
                                    actor_role=e.actor_role, company_id=e.company_id, action=e.action,
                                    target_type=e.target_type, target_id=e.target_id, details=e.details,
                                    ip=e.ip, user_agent=e.user_agent, prev_hash=e.prev_hash)
            if recomputed != e.hash:
                return ChainReport(ok=False, checked=checked, first_broken_seq=e.seq,
                                   problem="content does not match its hash (entry was modified)")
            prev = e.hash
            expected_seq += 1
            checked += 1
            last_seq = e.seq
        session.expunge_all()
