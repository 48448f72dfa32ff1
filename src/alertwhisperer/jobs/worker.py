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
    """What a handler gets. ``session`` is the job's own: effects written there commit together with the job's
    completion. Long handlers (``background`` kinds) that must commit progress on the way use ``sessionmaker``
    for short transactions of their own and ``hub`` to publish what those emitted (``publish``)."""

    session: AsyncSession
    clock: Clock
    worker: str
    settings: Settings | None = None
    sessionmaker: async_sessionmaker[AsyncSession] | None = None
    hub: Hub | None = None

    async def publish(self, session: AsyncSession) -> None:
        """Send the live events ``session`` emitted (call after its commit)."""
        if self.hub is not None:
            await publish_pending(session, self.hub)


Handler = Callable[[JobContext, Job], Awaitable[None]]


class Registry:
    """Job kinds and their handlers. ``urgent`` kinds (the ingest inbox: alerts waiting to be seen) are claimed
    before the others, which still get a share of every round (``Worker.SHARE``) so none starves.
    ``background`` kinds (runbook executions: minutes on a remote host) run beside the rounds, at most
    ``Worker.BACKGROUND`` at a time, with their lease kept fresh while they run, so they never hold up the rest."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._urgent: set[str] = set()
        self._background: set[str] = set()

    def register(self, kind: str, handler: Handler, *, urgent: bool = False, background: bool = False) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        if urgent and background:
            raise ValueError("a job kind is either urgent or background")
        self._handlers[kind] = handler
        if urgent:
            self._urgent.add(kind)
        if background:
            self._background.add(kind)

    @property
    def urgent_kinds(self) -> list[str]:
        return sorted(self._urgent)

    @property
    def background_kinds(self) -> list[str]:
        return sorted(self._background)

    @property
    def other_kinds(self) -> list[str]:
        return sorted(set(self._handlers) - self._urgent - self._background)

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
        self._background: set[asyncio.Task[None]] = set()
        self._background_finished = 0  # how many background jobs ended (their follow-ups may be due now)
        self._lock_dir = liveness.lock_dir(sessionmaker.kw.get("bind"))
        self._lock = liveness.WorkerLock(self._lock_dir, self.name) if self._lock_dir else None

    def wake(self) -> None:
        """Tell the loop there is new work (called after a commit that enqueued a job)."""
        self._wake.set()

    SHARE = 4  # jobs of other kinds claimed in every round even while urgent ones fill the batch
    BACKGROUND = 4  # background jobs (executions) running at once in this worker

    async def run_once(self) -> int:
        """Claim and run one batch of due jobs (background ones are started, not awaited: see ``drain``);
        returns how many were claimed. Tests call this with a fake clock."""
        urgent, other = self.registry.urgent_kinds, self.registry.other_kinds
        started = await self._start_background()
        async with self.sessionmaker() as session:
            if not urgent:
                jobs = await service.claim(session, worker=self.name, now=self.clock.now(), lease=self.lease,
                                           limit=self.batch, kinds=other) if other else []
            else:
                jobs = await service.claim(session, worker=self.name, now=self.clock.now(), lease=self.lease,
                                           limit=self.batch, kinds=urgent)
                if other:
                    jobs += await service.claim(session, worker=self.name, now=self.clock.now(), lease=self.lease,
                                                limit=max(self.batch - len(jobs), self.SHARE), kinds=other)
        for job in jobs:
            await self._run(job)
        return len(jobs) + started

    async def _start_background(self) -> int:
        kinds, free = self.registry.background_kinds, self.BACKGROUND - len(self._background)
        if not kinds or free <= 0:
            return 0
        async with self.sessionmaker() as session:
            jobs = await service.claim(session, worker=self.name, now=self.clock.now(), lease=self.lease,
                                       limit=free, kinds=kinds)
        for job in jobs:
            task = asyncio.create_task(self._run_keeping_lease(job), name=f"job-{job.kind}-{job.id}")
            self._background.add(task)
            task.add_done_callback(self._background_done)
        return len(jobs)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        self._background_finished += 1
        self.wake()  # a slot is free, and what the job enqueued may be due

    async def _run_keeping_lease(self, job: Job) -> None:
        keeper = asyncio.create_task(self._keep_lease(job.id))
        try:
            await self._run(job)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep_lease(self, job_id: str) -> None:
        """Renew the lease every third of its length while the handler runs (so nobody thinks it died)."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                async with self.sessionmaker() as session:
                    await service.extend_lease(session, job_id=job_id, worker=self.name,
                                               until=self.clock.now() + self.lease)
                    await session.commit()
            except Exception as exc:  # a database hiccup: try again next time
                log.warning("jobs.lease_renewal_failed", job_id=job_id, error=str(exc)[:300])

    async def drain(self) -> None:
        """Wait for the background jobs this worker started (tests; a graceful stop cancels them instead)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def run_until_idle(self, max_rounds: int = 1000) -> int:
        total = 0
        for _ in range(max_rounds):
            finished = self._background_finished
            ran = await self.run_once()
            total += ran
            if not ran:
                if self._background:
                    await self.drain()
                elif self._background_finished == finished:  # nothing ended during the round: really idle
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
                await handler(JobContext(session, self.clock, self.name, self.settings, self.sessionmaker, self.hub),
                              job)
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
            # Cleared before the round, not after it: a wake-up during the round (a commit elsewhere, a background
            # job that ended and enqueued its follow-up) is not lost, and the wait below returns at once.
            self._wake.clear()
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
        for task in list(self._background):  # their jobs go back to pending when the lease lapses
            task.cancel()
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        if self._lock is not None:
            self._lock.release()
