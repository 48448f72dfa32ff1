"""The durable job mechanism on SQLite and PostgreSQL, driven by a fake clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.jobs import service
from alertwhisperer.jobs.models import DEAD, DONE, PENDING, RUNNING, Job
from alertwhisperer.jobs.worker import JobContext, PermanentError, Registry, Worker


@pytest.fixture
async def factory(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


class Recorder:
    """A handler that records every run and writes a marker row through the job's session."""

    def __init__(self, fail_times: int = 0, permanent: bool = False) -> None:
        self.runs: list[str] = []
        self.fail_times = fail_times
        self.permanent = permanent

    async def __call__(self, ctx: JobContext, job: Job) -> None:
        self.runs.append(job.payload.get("n", job.id))
        if len(self.runs) <= self.fail_times:
            raise (PermanentError("bad payload") if self.permanent else RuntimeError("transient"))


async def _enqueue(factory: async_sessionmaker[AsyncSession], clock: FakeClock, **kw: object) -> Job | None:
    async with factory() as s:
        job = await service.enqueue(s, kind=str(kw.pop("kind", "test")), now=clock.now(), **kw)  # type: ignore[arg-type]
        await s.commit()
        return job


async def _status(factory: async_sessionmaker[AsyncSession], job_id: str) -> Job:
    async with factory() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        return job


async def test_job_runs_once_when_due(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    rec = Recorder()
    reg = Registry()
    reg.register("test", rec)
    worker = Worker(factory, reg, clock)
    job = await _enqueue(factory, clock, payload={"n": "a"}, due_at=clock.now() + timedelta(minutes=10))
    assert job is not None
    assert await worker.run_once() == 0  # not due yet
    clock.advance(minutes=10)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert rec.runs == ["a"]
    assert (await _status(factory, job.id)).status == DONE


async def test_retry_with_backoff_then_success(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    rec = Recorder(fail_times=2)
    reg = Registry()
    reg.register("test", rec)
    worker = Worker(factory, reg, clock)
    job = await _enqueue(factory, clock)
    assert job is not None
    await worker.run_once()
    row = await _status(factory, job.id)
    assert row.status == PENDING and row.attempts == 1 and "transient" in (row.last_error or "")
    assert row.due_at > clock.now()  # backoff: not retried immediately
    assert await worker.run_once() == 0
    clock.advance(seconds=3)
    await worker.run_once()
    clock.advance(seconds=5)
    await worker.run_once()
    row = await _status(factory, job.id)
    assert row.status == DONE and row.attempts == 3 and len(rec.runs) == 3


async def test_dead_after_max_attempts_and_permanent_errors(factory: async_sessionmaker[AsyncSession],
                                                            clock: FakeClock) -> None:
    reg = Registry()
    reg.register("flaky", Recorder(fail_times=100))
    reg.register("bad", Recorder(fail_times=100, permanent=True))
    worker = Worker(factory, reg, clock)
    flaky = await _enqueue(factory, clock, kind="flaky", max_attempts=3)
    bad = await _enqueue(factory, clock, kind="bad")
    assert flaky and bad
    for _ in range(5):
        await worker.run_once()
        clock.advance(hours=2)
    assert (await _status(factory, flaky.id)).status == DEAD
    bad_row = await _status(factory, bad.id)
    assert bad_row.status == DEAD and bad_row.attempts == 1


async def test_dedup_key_fires_once(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    assert await _enqueue(factory, clock, dedup_key="sla:inc1:warn") is not None
    assert await _enqueue(factory, clock, dedup_key="sla:inc1:warn") is None
    async with factory() as s:
        assert (await s.execute(select(func.count()).select_from(Job))).scalar_one() == 1


async def test_crashed_worker_lease_expires_and_job_reruns(factory: async_sessionmaker[AsyncSession],
                                                           clock: FakeClock) -> None:
    rec = Recorder()
    reg = Registry()
    reg.register("test", rec)
    job = await _enqueue(factory, clock)
    assert job is not None
    # A worker claims the job and "crashes" before running it.
    async with factory() as s:
        claimed = await service.claim(s, worker="dead-worker", now=clock.now(), lease=timedelta(minutes=5))
    assert [j.id for j in claimed] == [job.id]
    restarted = Worker(factory, reg, clock, lease=timedelta(minutes=5))
    assert await restarted.run_once() == 0  # lease still held
    clock.advance(minutes=6)
    assert await restarted.run_once() == 1
    assert rec.runs == [job.id]
    row = await _status(factory, job.id)
    assert row.status == DONE and row.attempts == 2


async def test_stale_worker_cannot_complete_a_reclaimed_job(factory: async_sessionmaker[AsyncSession],
                                                            clock: FakeClock) -> None:
    job = await _enqueue(factory, clock)
    assert job is not None
    async with factory() as s:
        (old,) = await service.claim(s, worker="slow", now=clock.now(), lease=timedelta(seconds=30))
    clock.advance(minutes=1)
    async with factory() as s:
        (new,) = await service.claim(s, worker="fresh", now=clock.now(), lease=timedelta(minutes=5))
    async with factory() as s:
        assert not await service.complete(s, old, worker="slow", now=clock.now())
        assert await service.complete(s, new, worker="fresh", now=clock.now())
        await s.commit()
    assert (await _status(factory, job.id)).lease_owner is None


async def test_two_workers_never_run_the_same_job(factory: async_sessionmaker[AsyncSession],
                                                  clock: FakeClock) -> None:
    rec = Recorder()
    reg = Registry()
    reg.register("test", rec)
    for n in range(60):
        await _enqueue(factory, clock, payload={"n": str(n)})
    workers = [Worker(factory, reg, clock, name=f"w{i}", batch=7) for i in range(3)]

    async def drain(w: Worker) -> None:
        while await w.run_once():
            await asyncio.sleep(0)

    await asyncio.gather(*(drain(w) for w in workers))
    assert sorted(rec.runs, key=int) == [str(n) for n in range(60)]
    async with factory() as s:
        left = (await s.execute(select(func.count()).select_from(Job).where(Job.status != DONE))).scalar_one()
    assert left == 0


async def test_cancel_scheduled_job(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    rec = Recorder()
    reg = Registry()
    reg.register("test", rec)
    await _enqueue(factory, clock, dedup_key="timer:x", due_at=clock.now() + timedelta(minutes=1))
    async with factory() as s:
        assert await service.cancel(s, dedup_key="timer:x", now=clock.now())
        await s.commit()
    clock.advance(minutes=2)
    assert await Worker(factory, reg, clock).run_once() == 0
    assert rec.runs == []


def test_backoff_grows_and_is_capped() -> None:
    import random

    rng = random.Random(1)
    values = [service.backoff(n, rng=rng) for n in range(1, 20)]
    assert values[0] <= 2.0
    assert max(values) <= service.MAX_BACKOFF
    assert values[8] > values[1]
    assert RUNNING  # imported states are the public vocabulary
