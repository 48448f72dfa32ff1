"""Which handler runs which job kind. Each domain contributes its handlers here, explicitly."""

from __future__ import annotations

from alertwhisperer.jobs.worker import Registry


def build_registry() -> Registry:
    from alertwhisperer.correlation.service import RESOLVE_JOB, resolve_due_job
    from alertwhisperer.incidents import flows as incident_flows
    from alertwhisperer.incidents import sla
    from alertwhisperer.ingest import heartbeats, sns
    from alertwhisperer.ingest.flows import process_delivery
    from alertwhisperer.ingest.service import PROCESS_JOB
    from alertwhisperer.notify import jobs as notify_jobs
    from alertwhisperer.remediation import jobs as remediation_jobs

    registry = Registry()
    registry.register(PROCESS_JOB, process_delivery, urgent=True)  # alerts waiting to be seen
    registry.register(heartbeats.CHECK_JOB, heartbeats.check)
    registry.register(sns.CONFIRM_JOB, sns.confirm)
    registry.register(RESOLVE_JOB, resolve_due_job)
    incident_flows.register(registry)  # the incident lifecycle (opened, reopened, resolved by itself)
    sla.register(registry)  # SLA warnings, breaches and escalation levels
    notify_jobs.register(registry)  # sending notifications
    remediation_jobs.register(registry)  # decisions, runbook executions, patch scans
    return registry
