"""The worker: claims due jobs and runs their handlers. Runs inside the server (embedded default) and
as separate ``alertwhisperer worker`` processes (scale-out)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.jobs import liveness, service
from alertwhisperer.jobs.models import Job
from alertwhisperer.realtime.hub import Hub, publish_pending

log = structlog.get_logger(__name__)


LIVENESS_CHECK_SECONDS = 30.0  # how often a running worker looks for leases held by dead workers


JOBS_SIGNAL = "jobs"  # the hub signal that wakes workers: a commit enqueued work


def wake_workers(hub: Hub | None) -> None:
    """Tell the workers of every process that a commit enqueued jobs (they also poll, so this is a hint)."""
    if hub is not None:
        hub.signal(JOBS_SIGNAL)


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help (the job is buried as dead at once)."""


@dataclass(frozen=True)
class JobContext:
    session: AsyncSession
    clock: Clock
    worker: str
    settings: Settings | None = None


Handler = Callable[[JobContext, Job], Awaitable[None]]


class Registry:
    """Job kinds and their handlers. ``urgent`` kinds (the ingest inbox: alerts waiting to be seen) are claimed
    before the others, which still get a share of every round (``Worker.SHARE``) so none starves."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._urgent: set[str] = set()

    def register(self, kind: str, handler: Handler, *, urgent: bool = False) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        self._handlers[kind] = handler
        if urgent:
            self._urgent.add(kind)

    @property
    def urgent_kinds(self) -> list[str]:
        return sorted(self._urgent)

    @property
    def other_kinds(self) -> list[str]:
        return sorted(set(self._handlers) - self._urgent)

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)


class Worker:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], registry: Registry, clock: Clock, *,
                 name: str | None = None, lease: timedelta = timedelta(minutes=5), batch: int = 20,
                 poll_interval: float = 0.5, hub: Hub | None = None, settings: Settings | None = None) -> None:
        self.hub = hub
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.registry = registry
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = lease
        self.batch = batch
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock_dir = liveness.lock_dir(sessionmaker.kw.get("bind"))
        self._lock = liveness.WorkerLock(self._lock_dir, self.name) if self._lock_dir else None

    def wake(self) -> None:
        """Tell the loop there is new work (called after a commit that enqueued a job)."""
        self._wake.set()

    SHARE = 4  # jobs of other kinds claimed in every round even while urgent ones fill the batch

    async def run_once(self) -> int:
        """Claim and run one batch of due jobs; returns how many ran. Tests call this with a fake clock."""
        urgent, other = self.registry.urgent_kinds, self.registry.other_kinds
        async with self.sessionmaker() as session:
            if not urgent:
                jobs = await service.claim(session, worker=self.name, now=self.clock.now(), lease=self.lease,
                                           limit=self.batch, kinds=self.registry.kinds)
            else:
                jobs = await service.claim(session, worker=self.name, now=self.clock.now(), lease=self.lease,
                                           limit=self.batch, kinds=urgent)
                if other:
                    jobs += await service.claim(session, worker=self.name, now=self.clock.now(), lease=self.lease,
                                                limit=max(self.batch - len(jobs), self.SHARE), kinds=other)
        for job in jobs:
            await self._run(job)
        return len(jobs)

    async def run_until_idle(self, max_rounds: int = 1000) -> int:
        total = 0
        for _ in range(max_rounds):
            ran = await self.run_once()
            total += ran
            if not ran:
                break
        return total

    async def _run(self, job: Job) -> None:
        handler = self.registry.get(job.kind)
        job_id, kind, attempt = job.id, job.kind, job.attempts
        async with self.sessionmaker() as session:
            job = await session.merge(job, load=False)
            if handler is None:
                await service.fail(session, job, worker=self.name, now=self.clock.now(),
                                   error=f"no handler for kind {job.kind!r}", retryable=False)
                await session.commit()
                return
            try:
                await handler(JobContext(session, self.clock, self.name, self.settings), job)
                if not await service.complete(session, job, worker=self.name, now=self.clock.now()):
                    await session.rollback()  # lost the lease: another worker owns it now
                    log.warning("jobs.lease_lost", job_id=job_id, kind=kind)
                    return
                await session.commit()
                if self.hub is not None:
                    await publish_pending(session, self.hub)
            except Exception as exc:
                await session.rollback()
                retryable = not isinstance(exc, PermanentError)
                async with self.sessionmaker() as s2:
                    job2 = await s2.get(Job, job_id)
                    if job2 is None:
                        return
                    outcome = await service.fail(s2, job2, worker=self.name, now=self.clock.now(),
                                                 error="".join(traceback.format_exception_only(exc)).strip(),
                                                 retryable=retryable)
                    await s2.commit()
                log.warning("jobs.failed", job_id=job_id, kind=kind, attempt=attempt,
                            outcome=outcome.status, error=str(exc)[:300])

    async def release_dead_leases(self) -> int:
        """Jobs of workers that died (SIGKILL, crash) go back to pending now, not when their lease expires."""
        if self._lock_dir is None:
            return 0
        async with self.sessionmaker() as session:
            return await liveness.release_dead_leases(session, directory=self._lock_dir)

    async def _loop(self) -> None:
        next_liveness_check = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() >= next_liveness_check:
                    next_liveness_check = loop.time() + LIVENESS_CHECK_SECONDS
                    await self.release_dead_leases()
                ran = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database hiccup: keep going
                log.error("jobs.loop_error", error=str(exc))
                ran = 0
            if ran:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    def start(self) -> None:
        if self.hub is not None:
            self.hub.on_signal(JOBS_SIGNAL, self.wake)  # "new jobs", from this process or another one
        if self._lock is not None:
            self._lock.acquire()  # before any claim: our leases are ours only while this lock is held
        self._task = asyncio.create_task(self._loop(), name=f"worker-{self.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._lock is not None:
            self._lock.release()
