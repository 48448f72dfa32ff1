"""The embedded job worker as a child process of the server, restarted when it dies.

Why a process: correlation is CPU work, and in the server's process it competes with accepting webhooks for
the one interpreter lock. In a storm the server must keep answering 2xx quickly (every answer is a committed
delivery) while the inbox drains behind it, so the worker runs in its own process at a lower CPU priority
(``worker_nice``): on a busy host acceptance wins and processing catches up as soon as there is CPU to spare.
Live events and wake-ups travel between the two over the hub (``realtime.bus`` without Redis).

The child dies with the server: it asks the kernel for SIGTERM when its parent exits (``PR_SET_PDEATHSIG``)
and also watches its parent's pid, so a SIGKILLed server never leaves an orphan worker behind. A worker
that dies is restarted with backoff; the jobs it leased go back to pending at once (``jobs.liveness``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys

import structlog

from alertwhisperer.config import Settings

log = structlog.get_logger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: one server process, one worker
    fcntl = None  # type: ignore[assignment]

PR_SET_PDEATHSIG = 1
MAX_BACKOFF = 30.0
LOCK_RETRY = 5.0  # seconds between attempts of a standby server process to take over the worker


def child_env(settings: Settings) -> dict[str, str]:
    """The child's configuration: the parent's environment plus what the parent resolved or was given."""
    env = dict(os.environ)
    env.update({
        "ALERTWHISPERER_DATA_DIR": str(settings.data_dir.resolve()),
        "ALERTWHISPERER_DATABASE_URL": settings.db_url,
        "ALERTWHISPERER_ENV": settings.env,
        "ALERTWHISPERER_LOG_LEVEL": settings.log_level,
        "ALERTWHISPERER_LOG_JSON": "true" if settings.log_json else "false",
        "ALERTWHISPERER_DEMO": "false",
        "ALERTWHISPERER_LOCAL_EXECUTOR_ENABLED": "true" if settings.local_executor_enabled else "false",
    })
    if settings.secret_key is not None:
        env["ALERTWHISPERER_SECRET_KEY"] = settings.secret_key.get_secret_value()
    if settings.redis_url:
        env["ALERTWHISPERER_REDIS_URL"] = settings.redis_url
    return env


class WorkerProcess:
    """Runs ``alertwhisperer worker --parent-pid <us>`` and keeps it running until ``stop``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock_fd: int | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "alertwhisperer", "worker", "--parent-pid", str(os.getpid()),
                "--nice", str(self.settings.worker_nice)]

    async def start(self) -> None:
        """Spawn the worker now if no sibling server process runs one, else stand by to take over."""
        if self._take_lock():
            await self._spawn()
            self._task = asyncio.create_task(self._watch(), name="worker-supervisor")
        else:
            self._task = asyncio.create_task(self._standby(), name="worker-supervisor-standby")

    def _take_lock(self) -> bool:
        """One worker per installation even with several server processes: whoever holds this lock runs it
        (the kernel releases it when that server process ends, however it ends)."""
        if fcntl is None:
            return True
        path = self.settings.data_dir.resolve() / "run" / "worker.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    async def _standby(self) -> None:
        while not self._take_lock():  # noqa: ASYNC110 - polling a kernel lock: there is no event to wait on
            await asyncio.sleep(LOCK_RETRY)
        log.info("jobs.worker_process_takeover")
        await self._spawn()
        await self._watch()

    async def _spawn(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(*self.command(), env=child_env(self.settings))
        log.info("jobs.worker_process_started", pid=self.proc.pid)

    async def _watch(self) -> None:
        backoff = 1.0
        while not self._stopping:
            assert self.proc is not None
            started = asyncio.get_running_loop().time()
            code = await self.proc.wait()
            if self._stopping:
                return
            log.error("jobs.worker_process_exited", pid=self.proc.pid, code=code, restart_in=backoff)
            await asyncio.sleep(backoff)
            if self._stopping:
                return
            ran = asyncio.get_running_loop().time() - started
            backoff = 1.0 if ran > 60 else min(backoff * 2, MAX_BACKOFF)
            self.restarts += 1
            await self._spawn()

    async def stop(self, grace: float = 15.0) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self._terminate(grace)
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    async def _terminate(self, grace: float) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            log.warning("jobs.worker_process_killed", pid=proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def die_with_parent(parent_pid: int) -> None:
    """In the child: SIGTERM when the parent exits (Linux), and exit now if it is already gone."""
    libc_name = ctypes.util.find_library("c")
    if libc_name and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(libc_name, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        raise SystemExit("parent process is gone")


async def watch_parent(parent_pid: int, stop: asyncio.Event, interval: float = 1.0) -> None:
    """Fallback where PDEATHSIG is unavailable: stop once we have been re-parented."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            log.warning("jobs.worker_parent_gone", parent=parent_pid)
            stop.set()
            return
        await asyncio.sleep(interval)
