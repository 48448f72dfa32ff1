"""Enqueue, claim under a lease, complete, retry with backoff. Works on SQLite and PostgreSQL.

Claiming uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so many workers never claim the same job; on
SQLite every write transaction is ``BEGIN IMMEDIATE`` (a single writer), which gives the same guarantee.
A job whose lease expired (its worker died) is claimed again; handlers are therefore written to be
idempotent or guarded, and a handler that works in the job's own session commits its effects and the
job's completion together (exactly once for database effects).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.db import new_id
from alertwhisperer.jobs.models import CANCELLED, DEAD, DONE, PENDING, RUNNING, Job

BASE_BACKOFF = 2.0
MAX_BACKOFF = 3600.0


async def enqueue(session: AsyncSession, *, kind: str, now: datetime, payload: dict[str, Any] | None = None,
                  company_id: str | None = None, due_at: datetime | None = None, dedup_key: str | None = None,
                  max_attempts: int = 8) -> Job | None:
    """Add a job in the caller's transaction. With a dedup_key already present, nothing is added (None).

    A keyed job is one ``INSERT ... ON CONFLICT (dedup_key) DO NOTHING`` (SQLite and PostgreSQL): no read
    first and no savepoint, so a concurrent enqueue of the same key is simply a no-op for the loser. The Job
    returned for it is a detached copy of what was written."""
    job = Job(id=new_id(), kind=kind, payload=payload or {}, company_id=company_id, due_at=due_at or now,
              dedup_key=dedup_key, status=PENDING, attempts=0, max_attempts=max_attempts, created_at=now)
    if dedup_key is None:
        session.add(job)
        await session.flush()
        return job
    return job if await enqueue_keyed(session, [job]) else None


_INSERTED = tuple(c.key for c in Job.__table__.columns
                  if c.key not in ("lease_owner", "lease_expires_at", "last_error", "finished_at"))


async def enqueue_keyed(session: AsyncSession, jobs: list[Job]) -> int:
    """Add keyed jobs (each with a ``dedup_key``) in one statement; keys already present are skipped. Returns
    how many were added. Build them as ``Job(id=new_id(), kind=..., dedup_key=..., due_at=..., ...)``."""
    if not jobs:
        return 0
    rows = []
    for job in jobs:
        if job.dedup_key is None:
            raise ValueError("enqueue_keyed needs a dedup_key on every job")
        job.id = job.id or new_id()
        job.status, job.attempts = job.status or PENDING, job.attempts or 0
        job.payload = job.payload or {}
        job.max_attempts = job.max_attempts or 8
        rows.append({name: getattr(job, name) for name in _INSERTED})
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(insert(Job).values(rows).on_conflict_do_nothing(index_elements=["dedup_key"]))
    return int(result.rowcount)  # type: ignore[attr-defined]


def backoff(attempts: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter in [base/2, base*2^(n-1)], capped."""
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * 2 ** max(attempts - 1, 0))
    return (rng or random).uniform(ceiling / 2, ceiling)


async def claim(session: AsyncSession, *, worker: str, now: datetime, lease: timedelta, limit: int = 20,
                kinds: list[str] | None = None) -> list[Job]:
    """Claim due jobs (or ones whose lease expired) and commit the claim."""
    due = or_(
        and_(Job.status == PENDING, Job.due_at <= now),
        and_(Job.status == RUNNING, Job.lease_expires_at < now),
    )
    stmt = select(Job).where(due).order_by(Job.due_at).limit(limit)
    if kinds:
        stmt = stmt.where(Job.kind.in_(kinds))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    jobs = list((await session.execute(stmt)).scalars().all())
    for job in jobs:
        job.status = RUNNING
        job.lease_owner = worker
        job.lease_expires_at = now + lease
        job.attempts += 1
    await session.commit()
    return jobs


async def extend_lease(session: AsyncSession, *, job_id: str, worker: str, until: datetime) -> bool:
    """Push a running job's lease to ``until`` while its handler still works (only by the lease's holder)."""
    result = await session.execute(
        update(Job).where(Job.id == job_id, Job.lease_owner == worker, Job.status == RUNNING)
        .values(lease_expires_at=until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_at: datetime | None = None


async def complete(session: AsyncSession, job: Job, *, worker: str, now: datetime) -> bool:
    """Mark done if we still hold the lease (another worker may have taken an expired one)."""
    result = await session.execute(
        update(Job).where(Job.id == job.id, Job.lease_owner == worker, Job.status == RUNNING)
        .values(status=DONE, finished_at=now, lease_owner=None, lease_expires_at=None, last_error=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def fail(session: AsyncSession, job: Job, *, worker: str, now: datetime, error: str,
               retryable: bool = True) -> Outcome:
    """Schedule a retry with backoff, or bury the job as dead after max_attempts."""
    if retryable and job.attempts < job.max_attempts:
        retry_at = now + timedelta(seconds=backoff(job.attempts))
        values: dict[str, Any] = {"status": PENDING, "due_at": retry_at, "lease_owner": None,
                                  "lease_expires_at": None, "last_error": error[:4000]}
        outcome = Outcome(PENDING, retry_at)
    else:
        values = {"status": DEAD, "finished_at": now, "lease_owner": None, "lease_expires_at": None,
                  "last_error": error[:4000]}
        outcome = Outcome(DEAD)
    await session.execute(update(Job).where(Job.id == job.id, Job.lease_owner == worker).values(**values))
    return outcome


async def cancel(session: AsyncSession, *, dedup_key: str, now: datetime) -> bool:
    """Cancel a pending scheduled job by its key (e.g. an SLA timer when the incident is resolved)."""
    return bool(await cancel_many(session, dedup_keys=[dedup_key], now=now))


async def cancel_many(session: AsyncSession, *, dedup_keys: list[str], now: datetime) -> int:
    """Cancel the pending jobs with these keys in one statement; returns how many were pending."""
    if not dedup_keys:
        return 0
    result = await session.execute(
        update(Job).where(Job.dedup_key.in_(dedup_keys), Job.status == PENDING)
        .values(status=CANCELLED, finished_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def next_due(session: AsyncSession) -> datetime | None:
    return (await session.execute(
        select(Job.due_at).where(Job.status == PENDING).order_by(Job.due_at).limit(1)
    )).scalar_one_or_none()
