"""The server's worker child process: started, restarted when it dies, gone when the server dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from alertwhisperer import migrate
from alertwhisperer.config import Settings
from alertwhisperer.jobs import supervisor as supervisor_module
from alertwhisperer.jobs.supervisor import WorkerProcess


def _settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path, demo=False, log_json=True).resolve_secret()
    migrate.upgrade(settings)
    return settings


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.fixture
def on_disk(tmp_path: Path) -> Settings:
    return _settings(tmp_path)


async def test_a_worker_that_dies_is_restarted(on_disk: Settings) -> None:
    supervisor = WorkerProcess(on_disk)
    await supervisor.start()
    try:
        assert supervisor.proc is not None
        first = supervisor.proc.pid
        os.kill(first, signal.SIGKILL)
        for _ in range(300):
            if supervisor.proc.pid != first and supervisor.proc.returncode is None:
                break
            await asyncio.sleep(0.05)
        assert supervisor.proc.pid != first and supervisor.restarts == 1
    finally:
        await supervisor.stop()
    assert supervisor.proc.returncode is not None


def test_the_worker_dies_with_its_server(tmp_path: Path) -> None:
    """SIGKILL the parent (as a crash would): the kernel tells the child, which stops (no orphan)."""
    _settings(tmp_path)
    script = textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from alertwhisperer.config import Settings
        from alertwhisperer.jobs.supervisor import WorkerProcess
        async def main():
            sup = WorkerProcess(Settings(data_dir=Path({str(tmp_path)!r}), demo=False).resolve_secret())
            await sup.start()
            print("PID", sup.proc.pid, flush=True)
            await asyncio.sleep(600)
        asyncio.run(main())
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        while not line.startswith("PID "):
            line = parent.stdout.readline()
        child = int(line.split()[1])
        assert _alive(child)
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()


async def test_one_worker_per_installation_and_takeover(on_disk: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several server processes (``serve --workers N``): one runs the worker, another takes over when it ends."""
    monkeypatch.setattr(supervisor_module, "LOCK_RETRY", 0.05)
    first, second = WorkerProcess(on_disk), WorkerProcess(on_disk)
    await first.start()
    await second.start()
    try:
        assert first.proc is not None and second.proc is None  # the second stands by
        await first.stop()
        for _ in range(400):
            if second.proc is not None:
                break
            await asyncio.sleep(0.05)
        assert second.proc is not None and second.proc.returncode is None
    finally:
        await first.stop()
        await second.stop()


def test_serve_refuses_several_processes_without_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTWHISPERER_")}
    env.update(ALERTWHISPERER_DATA_DIR=str(tmp_path), ALERTWHISPERER_DEMO="false")
    exe = str(Path(sys.executable).parent / "alertwhisperer")
    done = subprocess.run([exe, "serve", "--workers", "2", "--port", "1"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "needs Redis" in done.stderr
