"""Which handler runs which job kind. Each domain contributes its handlers here, explicitly."""

from __future__ import annotations

from alertwhisperer.jobs.worker import Registry


def build_registry() -> Registry:
    from alertwhisperer.correlation.service import RESOLVE_JOB, resolve_due_job
    from alertwhisperer.ingest import heartbeats, sns
    from alertwhisperer.ingest.flows import process_delivery
    from alertwhisperer.ingest.service import PROCESS_JOB

    registry = Registry()
    registry.register(PROCESS_JOB, process_delivery)
    registry.register(heartbeats.CHECK_JOB, heartbeats.check)
    registry.register(sns.CONFIRM_JOB, sns.confirm)
    registry.register(RESOLVE_JOB, resolve_due_job)
    # Domains register their job kinds here as they are built (ingest inbox, SLA timers, notifications,
    # executions): registry.register("ingest.process", ingest.flows.process_delivery), ...
    return registry
