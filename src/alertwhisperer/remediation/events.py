"""The live events of this domain, one shape each (pages and tests rely on them).

``execution.updated``: an execution's summary after any change. ``execution.output``: a piece of its output as
it arrives (``seq`` orders the pieces; a page that loaded the stored pieces ignores ``seq`` it already has).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.remediation.models import Execution, ExecutionChunk

UPDATED = "execution.updated"
OUTPUT = "execution.output"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def execution_data(execution: Execution) -> dict[str, Any]:
    return {
        "id": execution.id, "company_id": execution.company_id, "incident_id": execution.incident_id,
        "runbook_id": execution.runbook_id, "runbook_slug": execution.runbook_slug,
        "runbook_title": execution.runbook_title, "runbook_version": execution.runbook_version,
        "risk": execution.risk, "asset_id": execution.asset_id, "asset_name": execution.asset_name,
        "executor": execution.target.get("executor", ""), "trigger": execution.trigger,
        "status": execution.status, "status_reason": execution.status_reason[:500],
        "approval_required": execution.approval_required, "approver_role": execution.approver_role,
        "requested_by": execution.requested_by_name, "exit_code": execution.exit_code,
        "duration_ms": execution.duration_ms, "truncated": execution.truncated,
        "health": execution.health.get("status", ""), "outcome": execution.outcome,
        "expires_at": _iso(execution.expires_at), "created_at": _iso(execution.created_at),
        "started_at": _iso(execution.started_at), "finished_at": _iso(execution.finished_at),
    }


def execution_updated(session: AsyncSession, execution: Execution) -> None:
    """Queue ``execution.updated`` (sent after the commit)."""
    emit(session, Event(UPDATED, execution.company_id, execution_data(execution)))


def output_added(session: AsyncSession, chunk: ExecutionChunk) -> None:
    emit(session, Event(OUTPUT, chunk.company_id, {
        "execution_id": chunk.execution_id, "seq": chunk.seq, "stream": chunk.stream, "text": chunk.text,
        "at": chunk.at.isoformat()}))
