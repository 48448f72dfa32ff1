"""Playing a storm: each step goes through the real ingestion path at its time, so the inbox worker correlates
it and the console shows it exactly as it would a real tool's delivery."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.demo_storm.roles import NoAssets, load_assets
from alertwhisperer.demo_storm.script import NOMINAL_SECONDS, Step, StormScript, build_storm
from alertwhisperer.errors import Invalid, NotFound
from alertwhisperer.ingest import service as ingest
from alertwhisperer.tenants.models import Company

log = structlog.get_logger(__name__)

OnStep = Callable[[int, Step, ingest.Accepted], Awaitable[None] | None]  # awaited when it returns an awaitable


@dataclass
class StormProgress:
    company_id: str
    total: int
    started_at: datetime
    sent: int = 0
    alerts: int = 0
    retried: int = 0  # deliveries the ingest path recognised as repeats of an earlier one
    finished: bool = False
    error: str | None = None


async def script_for(session: AsyncSession, *, company: Company, clock: Clock, seed: int | None = None,
                     duration: float = NOMINAL_SECONDS) -> StormScript:
    """The storm for this company's assets, starting now. ``Invalid`` when it has no assets."""
    assets = await load_assets(session, company.id)
    try:
        return build_storm(company.slug, assets, seed=random.SystemRandom().randrange(2**31) if seed is None
                           else seed, start=clock.now(), duration=duration)
    except NoAssets as exc:
        raise Invalid(f"{company.name} has no assets to play a storm on: add assets (or import them) first") \
            from exc


async def deliver(session: AsyncSession, *, clock: Clock, company: Company, step: Step) -> ingest.Accepted:
    """The one call into ingestion: parse with the tool's real adapter, store durably with its inbox job
    (the caller commits). Same rows and guarantees as a webhook delivery."""
    result = ingest.parse(step.source, step.body, step.headers)
    return await ingest.accept(session, clock=clock, company=company, source=step.source, body=step.body,
                               headers=step.headers, result=result)


async def audit_started(session: AsyncSession, *, clock: Clock, actor: Principal | None, company: Company,
                        script: StormScript, via: str) -> None:
    await audit.record(session, clock=clock, actor=actor, action="demo.storm_started", company_id=company.id,
                       target_type="company", target_id=company.id,
                       details={"via": via, "deliveries": len(script.steps), "duration_s": script.duration,
                                "seed": script.seed, "tools": script.sources})


async def play(sessionmaker: async_sessionmaker[AsyncSession], *, clock: Clock, company_id: str,
               script: StormScript, progress: StormProgress | None = None, on_step: OnStep | None = None,
               wake: Callable[[], None] | None = None, speed: float = 1.0) -> StormProgress:
    """Send every step at ``step.at / speed`` seconds after the call (real time), one short transaction each.

    Event times are in the payloads (the script's start + ``step.at``); ``speed`` > 1 only makes sense with a clock
    that follows the script (tests), since a live storm's event times are "now" when played at speed 1.
    """
    progress = progress or StormProgress(company_id, len(script.steps), clock.now())
    loop = asyncio.get_running_loop()
    begin = loop.time()
    try:
        for i, step in enumerate(script.steps):
            delay = begin + step.at / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            async with sessionmaker() as session:
                company = await session.get(Company, company_id)
                if company is None:
                    raise NotFound("the company no longer exists")
                accepted = await deliver(session, clock=clock, company=company, step=step)
                await session.commit()
            progress.sent += 1
            progress.alerts += 0 if accepted.duplicate else len(accepted.alert_ids)
            progress.retried += int(accepted.duplicate)
            if wake is not None:
                wake()
            if on_step is not None and (pending := on_step(i, step, accepted)) is not None:
                await pending
    except asyncio.CancelledError:
        progress.error = "cancelled"
        raise
    except Exception as exc:
        progress.error = str(exc) or type(exc).__name__
        raise
    finally:
        progress.finished = True
    return progress


class StormRunner:
    """The storms an app is playing, one per company at most; owns the tasks so they are not collected."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[StormProgress]] = {}
        self.progress: dict[str, StormProgress] = {}
        self.starting = asyncio.Lock()  # held from "is one running?" to start(), across the caller's awaits

    def running(self, company_id: str) -> bool:
        task = self.tasks.get(company_id)
        return task is not None and not task.done()

    def start(self, sessionmaker: async_sessionmaker[AsyncSession], *, clock: Clock, company_id: str,
              script: StormScript, wake: Callable[[], None] | None = None) -> asyncio.Task[StormProgress]:
        if self.running(company_id):
            raise RuntimeError("a storm is already running for this company")
        progress = StormProgress(company_id, len(script.steps), clock.now())
        self.progress[company_id] = progress
        task = asyncio.get_running_loop().create_task(
            play(sessionmaker, clock=clock, company_id=company_id, script=script, progress=progress, wake=wake),
            name=f"demo-storm:{company_id}")
        self.tasks[company_id] = task
        task.add_done_callback(lambda t: self._done(company_id, t))
        return task

    def _done(self, company_id: str, task: asyncio.Task[StormProgress]) -> None:
        if self.tasks.get(company_id) is task:
            del self.tasks[company_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("demo.storm_failed", company_id=company_id, error=str(task.exception()))

    async def stop(self) -> None:
        """Cancel every running storm and wait for it (app shutdown)."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
