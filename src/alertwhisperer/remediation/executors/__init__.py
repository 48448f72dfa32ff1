"""Executors: back-ends behind ``executors.base.Executor`` (local, SSH, AWS SSM), one module each.

``executor_for(kind, settings)`` is the one way to get one: it refuses the local executor in production mode or
when it is switched off, and knows nothing else about the caller.
"""

from __future__ import annotations

from alertwhisperer.config import Settings
from alertwhisperer.remediation.executors.base import Executor, ExecutorUnavailable

KINDS = ("local", "ssh", "ssm")


def local_refusal(settings: Settings) -> str | None:
    """Why the local executor may not run in this installation (None: it may)."""
    if settings.env == "production":
        return "the local executor is refused in production mode (it would run scripts on the Alert Whisperer host)"
    if not settings.local_executor_enabled:
        return "the local executor is disabled (ALERTWHISPERER_LOCAL_EXECUTOR_ENABLED=false)"
    return None


def executor_for(kind: str, settings: Settings) -> Executor:
    """The executor of ``kind``; raises ``ExecutorUnavailable`` (with the reason) when it may not run here."""
    if kind == "local":
        reason = local_refusal(settings)
        if reason:
            raise ExecutorUnavailable(reason)
        from alertwhisperer.remediation.executors.local import LocalExecutor

        return LocalExecutor()
    if kind == "ssh":
        from alertwhisperer.remediation.executors.ssh import SshExecutor

        return SshExecutor()
    if kind == "ssm":
        from alertwhisperer.remediation.executors.ssm import SsmExecutor

        return SsmExecutor()
    raise ExecutorUnavailable(f"unknown executor {kind!r} (known: {', '.join(KINDS)})")
