"""The local executor: runs the script on the Alert Whisperer host itself (demo and development only).

The script goes to a private temporary file and runs in its own process group (``start_new_session``), so an
execution timeout kills everything it started. The environment is a minimal one (PATH, HOME, locale) plus the
command's own variables: the server's environment (which may hold its secret key) never reaches a runbook.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile

from alertwhisperer.remediation.executors.base import Command, OutputSink, RunResult, Stream, Target
from alertwhisperer.remediation.executors.streams import Capture

KILL_GRACE_SECONDS = 2.0  # SIGTERM, then SIGKILL after this long
DRAIN_SECONDS = 1.0  # after the script exits, how long to wait for output still held by children it left behind
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "TMPDIR", "SHELL")


def interpreter(shell: str) -> list[str] | None:
    """The argv prefix running a script file in ``shell``; None when that shell is not installed here."""
    if shell == "powershell":
        pwsh = shutil.which("pwsh") or shutil.which("powershell")
        return [pwsh, "-NoProfile", "-NonInteractive", "-File"] if pwsh else None
    if shell == "bash":
        bash = shutil.which("bash")
        return [bash] if bash else None
    return ["/bin/sh"]


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra)
    return env


async def _exited(proc: asyncio.subprocess.Process) -> int:
    """The exit code, as soon as the process exits (``proc.wait()`` also waits for its pipes to close, which a
    child left running in the background keeps open)."""
    while proc.returncode is None:  # noqa: ASYNC110  (the child watcher sets it; nothing to wait on)
        await asyncio.sleep(0.05)
    return proc.returncode


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class LocalExecutor:
    kind = "local"

    async def run(self, target: Target, command: Command, *, on_output: OutputSink | None = None) -> RunResult:
        capture = Capture(on_output)
        argv = interpreter(command.shell)
        if argv is None:
            return capture.result("undeliverable", error=f"{command.shell} is not installed on this host")
        suffix = ".ps1" if command.shell == "powershell" else ".sh"
        fd, path = tempfile.mkstemp(prefix="aw-run-", suffix=suffix)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(command.script)
            return await self._run([*argv, path], command, capture)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    async def _run(self, argv: list[str], command: Command, capture: Capture) -> RunResult:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=_environment(command.env),
            )
        except OSError as exc:
            return capture.result("undeliverable", error=f"cannot start {argv[0]}: {exc}")

        async def pump(stream: Stream, reader: asyncio.StreamReader | None) -> None:
            assert reader is not None
            while chunk := await reader.read(4096):
                await capture.feed(stream, chunk)

        readers = [asyncio.create_task(pump("stdout", proc.stdout)), asyncio.create_task(pump("stderr", proc.stderr))]
        timed_out = False
        try:
            await asyncio.wait_for(_exited(proc), timeout=command.timeout_seconds)
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_exited(proc), timeout=KILL_GRACE_SECONDS)
            _kill_group(proc.pid, signal.SIGKILL)
            await _exited(proc)
        except asyncio.CancelledError:
            _kill_group(proc.pid, signal.SIGKILL)
            for task in readers:
                task.cancel()
            raise
        # Children the script left running may hold the pipes open: take what comes quickly, then stop reading.
        _done, pending = await asyncio.wait(readers, timeout=DRAIN_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await capture.flush()
        if timed_out:
            return capture.result(
                "timed_out",
                exit_code=None,
                error=f"killed after the execution timeout of {command.timeout_seconds:g} s",
            )
        code = proc.returncode
        assert code is not None
        if code < 0:
            return capture.result("failed", exit_code=code, error=f"killed by signal {signal.Signals(-code).name}")
        return capture.result(
            "succeeded" if code == 0 else "failed",
            exit_code=code,
            error="" if code == 0 else f"exited with code {code}",
        )
