"""Background job kinds (runbook executions): they run beside the worker's rounds, never hold up other kinds,
are bounded in number, and keep their lease fresh while they run."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.jobs import service
from alertwhisperer.jobs.models import DONE, RUNNING, Job
from alertwhisperer.jobs.worker import JobContext, Registry, Worker


@pytest.fixture
async def factory(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _enqueue(factory: async_sessionmaker[AsyncSession], clock: FakeClock, kind: str, n: int) -> str:
    async with factory() as s:
        job = await service.enqueue(s, kind=kind, now=clock.now(), payload={"n": n})
        await s.commit()
        assert job is not None
        return job.id


async def _job(factory: async_sessionmaker[AsyncSession], job_id: str) -> Job:
    async with factory() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        return job


def test_a_kind_cannot_be_urgent_and_background() -> None:
    async def noop(ctx: JobContext, job: Job) -> None:
        return None

    reg = Registry()
    with pytest.raises(ValueError, match="urgent or background"):
        reg.register("x", noop, urgent=True, background=True)
    reg.register("slow", noop, background=True)
    reg.register("quick", noop)
    assert reg.background_kinds == ["slow"]
    assert reg.other_kinds == ["quick"]


async def test_background_job_does_not_hold_up_other_kinds(factory: async_sessionmaker[AsyncSession],
                                                           clock: FakeClock) -> None:
    release = asyncio.Event()
    order: list[str] = []

    async def slow(ctx: JobContext, job: Job) -> None:
        order.append("slow-start")
        await release.wait()
        order.append("slow-end")

    async def quick(ctx: JobContext, job: Job) -> None:
        order.append("quick")

    reg = Registry()
    reg.register("slow", slow, background=True)
    reg.register("quick", quick)
    worker = Worker(factory, reg, clock)
    slow_id = await _enqueue(factory, clock, "slow", 1)
    quick_id = await _enqueue(factory, clock, "quick", 2)
    assert await worker.run_once() == 2  # the slow one started, the quick one ran to the end
    await asyncio.sleep(0)
    assert order == ["slow-start", "quick"]
    assert (await _job(factory, quick_id)).status == DONE
    assert (await _job(factory, slow_id)).status == RUNNING
    release.set()
    await worker.drain()
    assert order[-1] == "slow-end"
    assert (await _job(factory, slow_id)).status == DONE


async def test_background_jobs_are_bounded_and_run_until_idle_waits(factory: async_sessionmaker[AsyncSession],
                                                                    clock: FakeClock) -> None:
    running, peak = 0, 0

    async def slow(ctx: JobContext, job: Job) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1

    reg = Registry()
    reg.register("slow", slow, background=True)
    worker = Worker(factory, reg, clock)
    ids = [await _enqueue(factory, clock, "slow", n) for n in range(Worker.BACKGROUND + 3)]
    assert await worker.run_until_idle() == len(ids)
    assert peak == Worker.BACKGROUND
    assert [(await _job(factory, i)).status for i in ids] == [DONE] * len(ids)


async def test_lease_is_renewed_while_a_background_job_runs(factory: async_sessionmaker[AsyncSession],
                                                            clock: FakeClock) -> None:
    release = asyncio.Event()

    async def slow(ctx: JobContext, job: Job) -> None:
        await release.wait()

    reg = Registry()
    reg.register("slow", slow, background=True)
    worker = Worker(factory, reg, clock, lease=timedelta(seconds=0.3))
    job_id = await _enqueue(factory, clock, "slow", 1)
    await worker.run_once()
    first = (await _job(factory, job_id)).lease_expires_at
    clock.advance(seconds=60)  # the handler is still working a minute later
    await asyncio.sleep(0.35)  # one renewal (every third of the lease)
    renewed = (await _job(factory, job_id)).lease_expires_at
    assert first is not None and renewed is not None
    assert renewed >= clock.now()  # nobody else may claim it as abandoned
    async with factory() as s:
        assert await service.claim(s, worker="other", now=clock.now(), lease=timedelta(minutes=5),
                                   kinds=["slow"]) == []
    release.set()
    await worker.drain()
    assert (await _job(factory, job_id)).status == DONE


async def test_follow_ups_of_background_jobs_run_before_the_worker_is_idle(
        factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    """A background job that ends while a round is under way enqueues work the round did not see: the worker must
    not call itself idle then (a decision enqueueing its run, a run enqueueing its verification)."""
    ran: list[int] = []

    async def chain(ctx: JobContext, job: Job) -> None:
        n = int(job.payload["n"])
        ran.append(n)
        if n < 12:
            await service.enqueue(ctx.session, kind="chain" if n % 2 else "step", now=ctx.clock.now(),
                                  payload={"n": n + 1})

    async def step(ctx: JobContext, job: Job) -> None:
        await chain(ctx, job)

    reg = Registry()
    reg.register("chain", chain, background=True)
    reg.register("step", step)
    for _ in range(3):
        ran.clear()
        await _enqueue(factory, clock, "chain", 1)
        await Worker(factory, reg, clock).run_until_idle()
        assert ran == list(range(1, 13))
