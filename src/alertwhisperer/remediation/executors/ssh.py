"""The SSH executor (asyncssh): host key verified against the stored known_hosts, never auto-accepted.

Delivery = TCP connect + key exchange + host key check + authentication + opening the session, bounded by the
delivery timeout; any failure there is ``undeliverable`` and says which step failed. On Linux the script is
streamed into a private temp file on the target by a small POSIX ``sh`` wrapper, which first reports its process
group on stderr (stripped from the output) and, with sudo, checks ``sudo -n`` (never a password prompt) before
running the script with stdin from /dev/null. The execution timeout kills that whole process group over a second
channel. Windows targets run ``powershell -Command -`` with the script on stdin (the channel is closed on timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from typing import cast

import asyncssh

from alertwhisperer.remediation.executors.base import Command, OutputSink, RunResult, Target
from alertwhisperer.remediation.executors.sshconnect import ConnectFailed, connect
from alertwhisperer.remediation.executors.streams import Capture

DRAIN_SECONDS = 1.0  # after the exit status, how long to wait for output still held by children left behind
KILL_TIMEOUT_SECONDS = 10.0
MARK = "__AW_"
SUDO_FAILED_EXIT = 126

_RUNNERS = {"sh": "sh", "bash": "bash", "powershell": "pwsh -NoProfile -NonInteractive -File"}


def wrapper(shell: str, sudo: bool) -> str:
    """The remote command (Linux): stash the script from stdin into a temp file, run it, clean up."""
    runner = _RUNNERS.get(shell, "sh")
    if shell == "powershell":
        stash = 'f=$(mktemp "${TMPDIR:-/tmp}/aw-XXXXXX.ps1")'
    else:
        stash = 'f=$(mktemp "${TMPDIR:-/tmp}/aw-XXXXXX")'
    sudo_check = ""
    if sudo:
        runner = f"sudo -n -- {runner}"
        sudo_check = (
            f'if ! m=$(sudo -n true 2>&1 </dev/null); then echo "{MARK}SUDO=$m" >&2; '
            f"cat >/dev/null; exit {SUDO_FAILED_EXIT}; fi\n"
        )
    body = (
        f'echo "{MARK}PID=$$" >&2\n{sudo_check}'
        f"{stash} || {{ cat >/dev/null; exit 125; }}\n"
        "trap 'rm -f \"$f\"' EXIT\ntrap 'rm -f \"$f\"; exit 143' HUP INT TERM\n"
        'chmod 600 "$f"; cat > "$f" || exit 125\n'
        f'{runner} "$f" </dev/null\n'
    )
    return f"exec sh -c {shlex.quote(body)}"


def exports(env: dict[str, str], windows: bool) -> str:
    """The command's variables set at the top of the script (sshd passes few variables through AcceptEnv)."""
    if windows:
        return "".join(f"$env:{k} = '{v.replace(chr(39), chr(39) * 2)}'\n" for k, v in env.items() if k.isidentifier())
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if k.isidentifier())


def kill_command(pid: int, sudo: bool) -> str:
    """TERM the process group, wait up to 2 s for it to go, then KILL it."""
    k = "sudo -n kill" if sudo else "kill"
    return (
        f"{k} -TERM -- -{pid} 2>/dev/null; i=0; while [ $i -lt 10 ] && {k} -0 -- -{pid} 2>/dev/null; "
        f"do sleep 0.2; i=$((i+1)); done; {k} -KILL -- -{pid} 2>/dev/null; true"
    )


class _Session(asyncssh.SSHClientSession[bytes]):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self.exit_status: int | None = None
        self.exit_signal: str = ""
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        stream = "stderr" if datatype == asyncssh.EXTENDED_DATA_STDERR else "stdout"
        self.queue.put_nowait((stream, data))

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status
        self.exited.set()

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = signal
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.exited.set()
        self.closed.set()
        self.queue.put_nowait(None)


class _Header:
    """Strips the wrapper's ``__AW_`` lines from the start of stderr and remembers what they said."""

    def __init__(self) -> None:
        self.buffer = b""
        self.done = False
        self.pid: int | None = None
        self.sudo_error: str | None = None

    def take(self, data: bytes) -> bytes:
        if self.done:
            return data
        self.buffer += data
        while not self.done:
            line, sep, rest = self.buffer.partition(b"\n")
            if not sep:
                if not MARK.encode().startswith(self.buffer[: len(MARK)]) or len(self.buffer) > 65536:
                    self.done = True  # not a header line after all
                    break
                return b""
            text = line.decode(errors="replace")
            if not text.startswith(MARK):
                self.done = True
                break
            key, _, value = text[len(MARK) :].partition("=")
            if key == "PID" and value.isdigit():
                self.pid = int(value)
            elif key == "SUDO":
                self.sudo_error = value.strip() or "sudo -n refused"
            self.buffer = rest
        out, self.buffer = self.buffer, b""
        return out


class SshExecutor:
    kind = "ssh"

    async def run(self, target: Target, command: Command, *, on_output: OutputSink | None = None) -> RunResult:
        capture = Capture(on_output)
        try:
            conn = await connect(target, delivery_seconds=command.delivery_timeout_seconds)
        except ConnectFailed as exc:
            return capture.result("undeliverable", error=str(exc))
        try:
            return await self._run(conn, target, command, capture)
        finally:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), timeout=DRAIN_SECONDS)

    async def _run(
        self, conn: asyncssh.SSHClientConnection, target: Target, command: Command, capture: Capture
    ) -> RunResult:
        windows = target.os == "windows"
        remote = "powershell -NoProfile -NonInteractive -Command -" if windows else wrapper(command.shell, target.sudo)
        try:
            chan, opened = await asyncio.wait_for(
                conn.create_session(_Session, remote, encoding=None), timeout=command.delivery_timeout_seconds
            )
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            return capture.result("undeliverable", error=f"cannot open a session on {target.host}: {exc}")
        session = cast(_Session, opened)
        chan.write((exports(command.env, windows) + command.script).encode())
        chan.write_eof()
        header = _Header() if not windows else None
        pump = asyncio.create_task(self._pump(session, header, capture))
        timed_out = False
        try:
            await asyncio.wait_for(session.exited.wait(), timeout=command.timeout_seconds)
        except TimeoutError:
            timed_out = True
            await self._kill(conn, header, target.sudo)
        try:
            await asyncio.wait_for(session.closed.wait(), timeout=DRAIN_SECONDS)
        except TimeoutError:
            chan.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pump, timeout=DRAIN_SECONDS)
        await capture.flush()
        return self._result(capture, session, header, command, timed_out)

    @staticmethod
    async def _pump(session: _Session, header: _Header | None, capture: Capture) -> None:
        while (item := await session.queue.get()) is not None:
            stream, data = item
            if stream == "stderr" and header is not None:
                data = header.take(data)
            await capture.feed(stream, data)  # type: ignore[arg-type]

    @staticmethod
    async def _kill(conn: asyncssh.SSHClientConnection, header: _Header | None, sudo: bool) -> None:
        if header is None or header.pid is None:
            return  # Windows (or the wrapper never started): closing the channel is all we can do
        with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
            await conn.run(kill_command(header.pid, sudo), timeout=KILL_TIMEOUT_SECONDS)

    @staticmethod
    def _result(
        capture: Capture, session: _Session, header: _Header | None, command: Command, timed_out: bool
    ) -> RunResult:
        if timed_out:
            return capture.result(
                "timed_out", error=(f"killed after the execution timeout of {command.timeout_seconds:g} s")
            )
        if header is not None and header.sudo_error is not None:
            return capture.result(
                "failed",
                exit_code=session.exit_status,
                error=f"sudo -n failed (passwordless sudo needed): {header.sudo_error}",
            )
        if session.exit_signal:
            return capture.result("failed", error=f"killed by signal {session.exit_signal}")
        code = session.exit_status
        if code is None:
            return capture.result("failed", error="the connection was lost before the script finished")
        return capture.result(
            "succeeded" if code == 0 else "failed",
            exit_code=code,
            error="" if code == 0 else f"exited with code {code}",
        )
