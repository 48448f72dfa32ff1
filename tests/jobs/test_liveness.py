"""Leases of dead workers are released at once (SQLite: per-worker lock files); live and unknown owners keep
theirs until the lease expires. The SIGKILL case end to end: tests/ingest/test_crash_durability.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.jobs import liveness, service
from alertwhisperer.jobs.models import PENDING, RUNNING, Job
from alertwhisperer.jobs.worker import Registry, Worker


@pytest.fixture
async def factory(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _claimed_by(factory: async_sessionmaker[AsyncSession], clock: FakeClock, owner: str) -> str:
    async with factory() as s:
        job = await service.enqueue(s, kind="test", now=clock.now(), payload={"owner": owner})
        await s.commit()
        assert job is not None
    async with factory() as s:
        (claimed,) = await service.claim(s, worker=owner, now=clock.now(), lease=timedelta(minutes=5))
    return claimed.id


async def _job(factory: async_sessionmaker[AsyncSession], job_id: str) -> Job:
    async with factory() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        return job


async def test_dead_workers_jobs_return_to_pending_live_and_unknown_keep_their_lease(
        backend: str, factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    alive, sweeper = Worker(factory, Registry(), clock, name="alive"), Worker(factory, Registry(), clock, name="s")
    if backend != "sqlite":  # no lock files on PostgreSQL: leases expire as before
        assert liveness.lock_dir(factory.kw["bind"]) is None
        assert await sweeper.release_dead_leases() == 0
        return
    directory = liveness.lock_dir(factory.kw["bind"])
    assert directory is not None
    alive_lock, dying_lock = liveness.WorkerLock(directory, "alive"), liveness.WorkerLock(directory, "dying")
    alive_lock.acquire()
    dying_lock.acquire()
    try:
        jobs = {owner: await _claimed_by(factory, clock, owner) for owner in ("alive", "dying", "elsewhere")}
        assert await sweeper.release_dead_leases() == 0  # everyone with a lock file is alive
        dying_lock.release()  # what the kernel does when the process dies
        assert await sweeper.release_dead_leases() == 1
        released = await _job(factory, jobs["dying"])
        assert (released.status, released.lease_owner, released.attempts) == (PENDING, None, 1)
        assert "died" in (released.last_error or "")
        for owner in ("alive", "elsewhere"):  # a live owner, and one without a lock file (another host)
            kept = await _job(factory, jobs[owner])
            assert (kept.status, kept.lease_owner) == (RUNNING, owner)
        assert not dying_lock.path.exists()  # swept
        assert alive_lock.path.exists()
        assert await alive.release_dead_leases() == 0
    finally:
        alive_lock.release()
        dying_lock.release()


def test_a_lock_is_exclusive(tmp_path: Path) -> None:
    first, second = liveness.WorkerLock(tmp_path, "w"), liveness.WorkerLock(tmp_path, "w")
    first.acquire()
    try:
        with pytest.raises(BlockingIOError):
            second.acquire()
    finally:
        first.release()
    second.acquire()
    second.release()
