"""What a finished run does to its incident: self-healed (resolved by the runbook) or escalated to a technician.

Both are written in the caller's transaction (timeline, audit, live ``incident.updated``, notifications). A run
without an incident (a manual run from the executions page) has no incident effects. The rollback itself (a run
on the target) is the runner's; ``rollback_record`` only shapes what is stored about it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.rows import event_data
from alertwhisperer.incidents import sla, timeline
from alertwhisperer.incidents.models import ACTIVE_STATUSES, RESOLVED
from alertwhisperer.incidents.service import mark_resolved
from alertwhisperer.notify import service as notify
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.remediation.executors.base import RunResult
from alertwhisperer.remediation.models import Execution

SELF_HEALED = "self_healed"
ESCALATED = "escalated"
RUNNER = "remediation"
TAIL = 2048  # characters of stdout / stderr attached to an escalation


def tail(text: str, size: int = TAIL) -> str:
    return text if len(text) <= size else "…" + text[-size:]


def what(execution: Execution) -> str:
    return f"{execution.runbook_title or execution.runbook_slug} v{execution.runbook_version} on {execution.asset_name}"


def _url(execution: Execution) -> str:
    return f"/executions/{execution.id}"


async def self_heal(session: AsyncSession, *, clock: Clock, execution: Execution) -> None:
    """The health check passed: resolve the incident as self-healed (or mark it so when its alerts already cleared
    it after the run started). Resolved some other way already: only noted on the timeline."""
    if execution.incident_id is None:
        return
    incident = await sla.locked_incident(session, execution.incident_id)
    if incident is None:
        return
    now = clock.now()
    since = execution.started_at or execution.dispatched_at
    data: dict[str, Any] = {"execution_id": execution.id, "runbook": execution.runbook_slug,
                            "version": execution.runbook_version, "to": RESOLVED, "resolution_kind": SELF_HEALED}
    if incident.status in ACTIVE_STATUSES:
        before = incident.status
        mark_resolved(incident, kind=SELF_HEALED, now=now)
        incident.updated_at = now
        await sla.stop(session, incident=incident, now=now)
        await _record_resolution(session, clock=clock, incident=incident, execution=execution,
                                 data={**data, "from": before}, body=f"Self-healed by {what(execution)}")
    elif (incident.status == RESOLVED and incident.resolution_kind == "auto" and since is not None
          and incident.resolved_at is not None and incident.resolved_at >= since):
        incident.resolution_kind, incident.updated_at = SELF_HEALED, now
        await sla.stop(session, incident=incident, now=now)  # the lifecycle job now skips an incident not "auto"
        await _record_resolution(session, clock=clock, incident=incident, execution=execution,
                                 data={**data, "from": RESOLVED, "was": "auto"},
                                 body=f"Self-healed by {what(execution)} (its alerts cleared after the run)")
    else:
        await timeline.record(session, incident=incident, kind="runbook", now=now, actor_name=RUNNER,
                              body=f"{what(execution)} passed its health check; the incident was already "
                                   f"{incident.status}", data={"execution_id": execution.id, "event": "healthy"})
        return
    execution.outcome = SELF_HEALED


async def _record_resolution(session: AsyncSession, *, clock: Clock, incident: Incident, execution: Execution,
                             data: dict[str, Any], body: str) -> None:
    now = clock.now()
    await timeline.record(session, incident=incident, kind="status", now=now, actor_name=RUNNER, body=body,
                          data=data)
    await audit.record(session, clock=clock, action="incident.resolved", actor=None, actor_email="system (runbook)",
                       company_id=incident.company_id, target_type="incident", target_id=incident.id,
                       details={"resolution_kind": SELF_HEALED, "execution_id": execution.id,
                                "runbook": execution.runbook_slug, "version": execution.runbook_version,
                                "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
                                "time_to_resolve_seconds": incident.time_to_resolve_seconds})
    emit(session, Event("incident.updated", incident.company_id, event_data(incident)))
    if incident.assignee_id is not None:
        await notify.notify(session, clock=clock, kind="resolved", user_ids=[incident.assignee_id],
                            title=f"Self-healed: {incident.title}", severity=incident.severity, incident=incident,
                            body=f"{what(execution)} fixed it and its health check passed.", url=_url(execution),
                            context={"execution_id": execution.id})


async def escalate(session: AsyncSession, *, clock: Clock, execution: Execution, reason: str) -> None:
    """The run did not fix it: a technician takes over, with the tail of the output on the timeline. The assignee
    is told (kind "escalation"); an unassigned incident is assigned automatically first."""
    if execution.incident_id is None:
        return
    incident = await sla.locked_incident(session, execution.incident_id)
    if incident is None:
        return
    now = clock.now()
    execution.outcome = ESCALATED
    active = incident.status in ACTIVE_STATUSES
    body = f"{what(execution)} did not fix it: {reason}" + (" — escalated to a technician" if active else "")
    await timeline.record(session, incident=incident, kind="runbook", now=now, actor_name=RUNNER, body=body[:2000],
                          data={"execution_id": execution.id, "event": "escalated", "status": execution.status,
                                "exit_code": execution.exit_code, "reason": reason[:1000], "url": _url(execution),
                                "output_tail": {"stdout": tail(execution.stdout), "stderr": tail(execution.stderr)}})
    await audit.record(session, clock=clock, action="execution.escalated", actor=None, actor_email="system (runbook)",
                       company_id=execution.company_id, target_type="execution", target_id=execution.id,
                       details={"incident_id": incident.id, "status": execution.status, "reason": reason[:500]})
    if not active:
        return
    from alertwhisperer.incidents.flows import auto_assign  # flows reaches remediation.hooks: import when used

    assignee = incident.assignee_id or await auto_assign(session, clock, incident)
    if assignee is None:
        return
    await notify.notify(session, clock=clock, kind="escalation", user_ids=[assignee],
                        title=f"Runbook failed: {incident.title}", severity=incident.severity, incident=incident,
                        body=f"{what(execution)} did not fix it: {reason[:800]}\nOutput: {_url(execution)}",
                        url=_url(execution),
                        context={"execution_id": execution.id, "status": execution.status})


def rollback_record(result: RunResult, *, at: datetime) -> dict[str, Any]:
    return {"status": result.status, "exit_code": result.exit_code, "stdout": result.stdout,
            "stderr": result.stderr, "truncated": result.truncated, "duration_ms": result.duration_ms,
            "error": result.error, "finished_at": at.isoformat()}
