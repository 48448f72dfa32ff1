"""The local executor (real subprocesses) and ``executor_for``'s refusals."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from alertwhisperer.config import Settings
from alertwhisperer.remediation.executors import executor_for
from alertwhisperer.remediation.executors.base import MAX_OUTPUT, Command, ExecutorUnavailable, Target
from alertwhisperer.remediation.executors.local import LocalExecutor
from alertwhisperer.remediation.executors.ssh import SshExecutor
from tests.remediation.sshd import alive

TARGET = Target(asset_id="a1", asset_name="aw-host", company_id="c1", executor="local")


class Recorder:
    def __init__(self) -> None:
        self.chunks: list[tuple[str, str]] = []

    async def __call__(self, stream: str, text: str) -> None:
        self.chunks.append((stream, text))


async def test_success_with_streamed_output(tmp_path: Path) -> None:
    rec = Recorder()
    result = await LocalExecutor().run(
        TARGET, Command(script=f"echo one\necho two >&2\ntouch {tmp_path}/x\n"), on_output=rec
    )
    assert result.status == "succeeded"
    assert (result.exit_code, result.stdout, result.stderr) == (0, "one\n", "two\n")
    assert ("stdout", "one\n") in rec.chunks and ("stderr", "two\n") in rec.chunks
    assert (tmp_path / "x").exists()


async def test_failure_keeps_the_exit_code() -> None:
    result = await LocalExecutor().run(TARGET, Command(script="echo before\nexit 3\necho never\n"))
    assert (result.status, result.exit_code, result.stdout) == ("failed", 3, "before\n")


async def test_environment_does_not_leak_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTWHISPERER_SECRET_KEY", "do-not-leak")
    result = await LocalExecutor().run(
        TARGET, Command(script='echo "[$ALERTWHISPERER_SECRET_KEY][$MINE]"', env={"MINE": "yes"})
    )
    assert result.stdout == "[][yes]\n"


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result = await LocalExecutor().run(
        TARGET, Command(script=f"sleep 300 &\necho $! > {pidfile}\necho started\nwait\n", timeout_seconds=0.5)
    )
    assert result.status == "timed_out"
    assert result.exit_code is None
    assert result.stdout == "started\n"
    pid = int(pidfile.read_text())
    assert not alive(pid)  # the background child died with the group


async def test_background_child_does_not_hold_the_run(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result = await LocalExecutor().run(
        TARGET, Command(script=f"sleep 30 &\necho $! > {pidfile}\necho ok\n", timeout_seconds=20)
    )
    assert result.status == "succeeded" and result.stdout == "ok\n"
    os.kill(int(pidfile.read_text()), 9)


async def test_truncation_is_flagged() -> None:
    result = await LocalExecutor().run(TARGET, Command(script=f"head -c {MAX_OUTPUT * 2} /dev/zero | tr '\\0' y"))
    assert result.status == "succeeded"
    assert result.truncated and len(result.stdout) == MAX_OUTPUT


async def test_bash_and_missing_powershell() -> None:
    result = await LocalExecutor().run(TARGET, Command(script='a=(1 2); echo "${#a[@]}"', shell="bash"))  # noqa: S604
    assert result.stdout == "2\n"
    if shutil.which("pwsh") is None and shutil.which("powershell") is None:
        ps = Command(script="Write-Output hi", shell="powershell")  # noqa: S604
        result = await LocalExecutor().run(TARGET, ps)
        assert result.status == "undeliverable"
        assert result.error == "powershell is not installed on this host"


def _settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings(data_dir=tmp_path, **fields)  # type: ignore[arg-type]


def test_executor_for(tmp_path: Path) -> None:
    assert isinstance(executor_for("local", _settings(tmp_path, env="development")), LocalExecutor)
    assert isinstance(
        executor_for("ssh", _settings(tmp_path, env="production", local_executor_enabled=False)), SshExecutor
    )
    assert executor_for("ssm", _settings(tmp_path)).kind == "ssm"
    with pytest.raises(ExecutorUnavailable, match="refused in production mode"):
        executor_for("local", _settings(tmp_path, env="production"))
    with pytest.raises(ExecutorUnavailable, match="disabled"):
        executor_for("local", _settings(tmp_path, local_executor_enabled=False))
    with pytest.raises(ExecutorUnavailable, match="unknown executor"):
        executor_for("telnet", _settings(tmp_path))
