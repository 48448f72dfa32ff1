"""Leases of dead workers are released at once instead of being waited out (SQLite: workers on one host).

A running worker holds an exclusive ``flock`` on its own file next to the SQLite database. The kernel drops
that lock when the process ends, however it ends (SIGKILL and power-cycled containers included). A worker
that starts, and every running worker now and then, tries the lock file of each owner of a running job: a
lock it can take belongs to a dead worker, whose jobs go back to pending at once (their attempt counts). An
owner without a lock file (a worker on another host, on PostgreSQL) keeps its lease until it expires.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from alertwhisperer.jobs.models import PENDING, RUNNING, Job

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: leases just expire
    fcntl = None  # type: ignore[assignment]

log = structlog.get_logger(__name__)


def lock_dir(bind: object) -> Path | None:
    """Where workers of this SQLite database keep their lock files (None: not a file-backed SQLite)."""
    if fcntl is None or not isinstance(bind, AsyncEngine) or bind.dialect.name != "sqlite":
        return None
    database = bind.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return path.parent / f"{path.name}.workers"


def _lock_path(directory: Path, owner: str) -> Path:
    return directory / f"{hashlib.sha256(owner.encode()).hexdigest()[:32]}.lock"


class WorkerLock:
    """Held for as long as the worker runs; released by the kernel if the process dies."""

    def __init__(self, directory: Path, owner: str) -> None:
        self.path = _lock_path(directory, owner)
        self._fd: int | None = None

    def acquire(self) -> None:
        assert fcntl is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(fd, self.path):
                    self._fd = fd
                    return
            except OSError:
                os.close(fd)
                raise
            os.close(fd)  # swept away as stale between open and lock: take a fresh file

    def release(self) -> None:
        """Drop the lock (the file stays: a job we still lease is released by the next worker's sweep)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


def _owner_is_dead(directory: Path, owner: str) -> bool:
    assert fcntl is not None
    try:
        fd = os.open(_lock_path(directory, owner), os.O_RDWR)
    except FileNotFoundError:
        return False  # unknown owner (another host, or already released): wait for its lease to expire
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: the owner is alive
    finally:
        os.close(fd)
    return True


def _sweep(directory: Path) -> None:
    """Remove the lock files of dead workers (taken while locked, so a live worker's file is never removed)."""
    assert fcntl is not None
    for path in directory.glob("*.lock"):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(fd, path):
                path.unlink(missing_ok=True)
        except OSError:
            pass  # held: alive
        finally:
            os.close(fd)


async def release_dead_leases(session: AsyncSession, *, directory: Path) -> int:
    """Put the running jobs of dead workers back to pending (committed), then sweep their lock files."""
    owners = (await session.execute(
        select(Job.lease_owner).where(Job.status == RUNNING, Job.lease_owner.is_not(None)).distinct()
    )).scalars().all()
    dead = [owner for owner in owners if owner and _owner_is_dead(directory, owner)]
    released = 0
    if dead:
        result = await session.execute(
            update(Job).where(Job.status == RUNNING, Job.lease_owner.in_(dead))
            .values(status=PENDING, lease_owner=None, lease_expires_at=None,
                    last_error="its worker died while running it; lease released")
        )
        await session.commit()
        released = int(result.rowcount or 0)  # type: ignore[attr-defined]
        log.warning("jobs.dead_worker_leases_released", workers=dead, jobs=released)
    _sweep(directory)
    return released
