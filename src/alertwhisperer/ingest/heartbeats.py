"""Heartbeats: an integration pings; when a ping is overdue, the company gets a "monitoring silent"
alert through the normal ingest path, resolved when pings resume.

Each ping schedules one durable check job at ``ping + interval + grace`` and cancels the previous one;
the check is idempotent (a newer ping or an already-silent heartbeat makes it a no-op).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.errors import Conflict, NotFound
from alertwhisperer.ingest import service as ingest
from alertwhisperer.ingest.models import Heartbeat
from alertwhisperer.ingest.schemas import AlertIn, ParseResult
from alertwhisperer.jobs import service as jobs
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants.models import Company

CHECK_JOB = "heartbeat.check"
SOURCE = "heartbeat"


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    interval_seconds: int = Field(ge=30, le=7 * 86400, description="expected time between pings")
    grace_seconds: int = Field(60, ge=0, le=86400)


class HeartbeatOut(BaseModel):
    id: str
    company_id: str
    name: str
    interval_seconds: int
    grace_seconds: int
    state: str
    last_ping_at: datetime | None
    ping_path: str


def to_out(hb: Heartbeat) -> HeartbeatOut:
    return HeartbeatOut(id=hb.id, company_id=hb.company_id, name=hb.name, interval_seconds=hb.interval_seconds,
                        grace_seconds=hb.grace_seconds, state=hb.state, last_ping_at=hb.last_ping_at,
                        ping_path=f"/api/heartbeats/{hb.name}")


async def _schedule(session: AsyncSession, hb: Heartbeat, now: datetime) -> None:
    if hb.check_key:
        await jobs.cancel(session, dedup_key=hb.check_key, now=now)
    key = f"hb:{hb.id}:{now.timestamp():.6f}"
    await jobs.enqueue(session, kind=CHECK_JOB, now=now, company_id=hb.company_id, dedup_key=key,
                       due_at=now + timedelta(seconds=hb.interval_seconds + hb.grace_seconds),
                       payload={"heartbeat_id": hb.id, "since": now.isoformat()})
    hb.check_key = key


async def create(session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str,
                 data: HeartbeatIn) -> Heartbeat:
    actor.require_company_admin(company_id, "configure heartbeats")
    if await session.get(Company, company_id) is None:
        raise NotFound("company not found")
    now = clock.now()
    hb = Heartbeat(company_id=company_id, name=data.name, interval_seconds=data.interval_seconds,
                   grace_seconds=data.grace_seconds, created_at=now)
    try:
        async with session.begin_nested():
            session.add(hb)
    except IntegrityError as exc:
        raise Conflict(f"a heartbeat named {data.name!r} already exists", details={"field": "name"}) from exc
    await _schedule(session, hb, now)  # never pinged at all also counts as silent
    await audit.record(session, clock=clock, actor=actor, action="heartbeat.created", company_id=company_id,
                       target_type="heartbeat", target_id=hb.id, details=data.model_dump())
    return hb


async def list_for(session: AsyncSession, *, actor: Principal, company_id: str) -> list[Heartbeat]:
    actor.require_company(company_id)
    return list((await session.execute(
        select(Heartbeat).where(Heartbeat.company_id == company_id).order_by(Heartbeat.name))).scalars())


async def delete(session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str, name: str) -> None:
    actor.require_company_admin(company_id, "configure heartbeats")
    hb = (await session.execute(select(Heartbeat).where(
        Heartbeat.company_id == company_id, Heartbeat.name == name))).scalar_one_or_none()
    if hb is None:
        raise NotFound(f"no heartbeat named {name!r}")
    if hb.check_key:
        await jobs.cancel(session, dedup_key=hb.check_key, now=clock.now())
    await session.delete(hb)
    await audit.record(session, clock=clock, actor=actor, action="heartbeat.deleted", company_id=company_id,
                       target_type="heartbeat", target_id=hb.id, details={"name": name})


async def _raise_alert(session: AsyncSession, clock: Clock, hb: Heartbeat,
                       status: Literal["firing", "resolved"]) -> list[str]:
    company = await session.get(Company, hb.company_id)
    assert company is not None
    now = clock.now()
    silent_for = int((now - hb.last_ping_at).total_seconds()) if hb.last_ping_at else None
    message = (f"No heartbeat from {hb.name!r} for {silent_for} s (expected every {hb.interval_seconds} s)"
               if status == "firing" and silent_for is not None else
               f"No heartbeat from {hb.name!r} since it was set up" if status == "firing" else
               f"Heartbeat {hb.name!r} resumed")
    alert = AlertIn(source=SOURCE, status=status, severity="high", signature=f"monitoring silent: {hb.name}",
                    message=message, labels={"heartbeat": hb.name}, external_id=f"heartbeat:{hb.id}",
                    occurred_at=now)
    body = json.dumps(alert.model_dump(mode="json")).encode()
    accepted = await ingest.accept(session, clock=clock, company=company, source=SOURCE, body=body,
                                   headers={"content-type": "application/json",
                                            "x-delivery-id": f"{hb.id}:{status}:{now.timestamp():.6f}"},
                                   result=ParseResult(alerts=[alert]))
    return accepted.alert_ids


async def ping(session: AsyncSession, *, clock: Clock, company: Company, name: str) -> Heartbeat:
    hb = (await session.execute(select(Heartbeat).where(
        Heartbeat.company_id == company.id, Heartbeat.name == name))).scalar_one_or_none()
    if hb is None:
        raise NotFound(f"no heartbeat named {name!r}; configure it on the company's Integrations page first")
    now = clock.now()
    was_silent = hb.state == "silent"
    hb.last_ping_at = now
    hb.state = "ok"
    await _schedule(session, hb, now)
    if was_silent:
        await _raise_alert(session, clock, hb, "resolved")
        emit(session, Event("heartbeat.resumed", hb.company_id, {"name": hb.name}))
    return hb


async def check(ctx: JobContext, job: Job) -> None:
    """The scheduled check: silent unless a newer ping arrived (then a newer check exists)."""
    hb = await ctx.session.get(Heartbeat, job.payload.get("heartbeat_id"))
    if hb is None or hb.state == "silent" or hb.check_key != job.dedup_key:
        return
    hb.state = "silent"
    await _raise_alert(ctx.session, ctx.clock, hb, "firing")
    emit(ctx.session, Event("heartbeat.silent", hb.company_id, {"name": hb.name}))
