"""The one small interface every executor implements, and what goes in and comes out of it.

An executor runs one rendered script on one resolved target and reports a normalised result; it knows nothing
of runbooks, approvals or incidents. Output arrives through ``on_output`` as it comes (for the live view) and is
kept bounded in the result (``MAX_OUTPUT`` per stream, ``truncated`` flagged).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

MAX_OUTPUT = 64 * 1024  # characters kept per stream in the result; the rest is dropped and flagged

ResultStatus = Literal["succeeded", "failed", "timed_out", "undeliverable"]
Stream = Literal["stdout", "stderr"]
OutputSink = Callable[[Stream, str], Awaitable[None]]


@dataclass(frozen=True)
class Secret:
    """Decrypted credential fields, only in memory for the run (never logged: ``repr`` hides them)."""

    kind: str = ""  # ssh_key | ssh_password | aws_keys | aws_role | "" (none)
    username: str = ""
    password: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)
    passphrase: str = field(default="", repr=False)
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    role_arn: str = ""
    external_id: str = field(default="", repr=False)


@dataclass(frozen=True)
class Target:
    """A resolved target: one asset of the execution's company and how to reach it."""

    asset_id: str
    asset_name: str
    company_id: str
    executor: str  # local | ssh | ssm
    os: str = "linux"  # linux | windows
    host: str = ""
    port: int = 22
    instance_id: str = ""
    region: str = ""
    sudo: bool = False
    known_hosts: str = ""
    secret: Secret = field(default_factory=Secret)

    def reference(self) -> dict[str, object]:
        """What identifies the target in an approval's binding (no secrets)."""
        return {
            "asset_id": self.asset_id,
            "executor": self.executor,
            "host": self.host,
            "port": self.port,
            "instance_id": self.instance_id,
            "region": self.region,
            "os": self.os,
            "sudo": self.sudo,
            "username": self.secret.username,
        }


@dataclass(frozen=True)
class Command:
    script: str
    shell: str = "sh"  # sh | bash | powershell
    timeout_seconds: float = 300.0  # execution: from start on the target to the end
    delivery_timeout_seconds: float = 30.0  # delivery: connecting / handing over to the target
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class RunResult:
    status: ResultStatus
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    duration_ms: int = 0
    error: str = ""  # why it was undeliverable / timed out / failed without an exit code
    external_id: str = ""  # e.g. the SSM command id


class ExecutorUnavailable(Exception):
    """This executor may not run here (e.g. local in production) or is not configured."""


class Executor(Protocol):
    kind: str

    async def run(self, target: Target, command: Command, *, on_output: OutputSink | None = None) -> RunResult:
        """Run ``command`` on ``target``. Never raises for target-side problems: they are a ``RunResult``."""
        ...


class BoundedOutput:
    """Collects one stream up to ``limit`` characters and remembers whether anything was dropped."""

    def __init__(self, limit: int = MAX_OUTPUT) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self.truncated = False

    def add(self, text: str) -> str:
        """Keep what fits; returns the part kept (what the live view should show)."""
        room = self.limit - self._size
        if room <= 0:
            self.truncated = self.truncated or bool(text)
            return ""
        kept = text[:room]
        if len(kept) < len(text):
            self.truncated = True
        self._parts.append(kept)
        self._size += len(kept)
        return kept

    @property
    def text(self) -> str:
        return "".join(self._parts)
