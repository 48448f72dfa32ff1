"""This domain's job handlers, added to the worker's registry explicitly."""

from __future__ import annotations

from alertwhisperer.jobs.worker import Registry
from alertwhisperer.remediation import hooks


def register(registry: Registry) -> None:
    from alertwhisperer.remediation.decision import decide_job
    from alertwhisperer.remediation.patches import scan_job
    from alertwhisperer.remediation.runner import execute_job, verify_job

    # incident -> matching runbooks -> execute / ask / escalate (beside the rounds: an advisor may take seconds)
    registry.register(hooks.DECIDE_JOB, decide_job, background=True)
    registry.register(hooks.EXECUTE_JOB, execute_job, background=True)  # minutes on a host: beside the rounds
    registry.register(hooks.VERIFY_JOB, verify_job, background=True)  # may run a rollback on the host
    registry.register(hooks.PATCH_SCAN_JOB, scan_job, background=True)
