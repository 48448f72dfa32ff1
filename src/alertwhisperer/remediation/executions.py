"""Executions as people see and steer them: list, detail, output, cancel, manual runs, and the self-healed KPI.

Every function checks the actor's scope here (an execution of a company outside it does not exist for them).
Runs themselves are the runner's (``remediation.runner``); requests go through the approval gates
(``remediation.gates``) whoever asks, so a manual run meets exactly the rules an automatic one does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.errors import Conflict, Forbidden, Invalid, NotFound
from alertwhisperer.incidents import timeline
from alertwhisperer.incidents.models import CLOSED, MERGED, RESOLVED
from alertwhisperer.jobs import service as jobs
from alertwhisperer.remediation import events, states
from alertwhisperer.remediation.models import Approval, Execution, ExecutionChunk
from alertwhisperer.tenants.models import Asset

MAX_LIMIT = 200
OUTPUT_PAGE = 5000  # chunks per output request (a bounded run stores far fewer)

# Status filters besides the statuses themselves
STATUS_GROUPS: dict[str, frozenset[str]] = {
    "waiting": states.WAITING, "in_flight": states.IN_FLIGHT, "final": states.FINAL,
    "active": states.WAITING | states.IN_FLIGHT,
}


def _statuses(status: str | None) -> frozenset[str] | None:
    """``status`` may be one status, a group (waiting, in_flight, final, active) or several, comma-separated."""
    if not status:
        return None
    wanted: set[str] = set()
    for part in (p.strip() for p in status.split(",") if p.strip()):
        if part in STATUS_GROUPS:
            wanted |= STATUS_GROUPS[part]
        elif part in states.STATUSES:
            wanted.add(part)
        else:
            raise Invalid(f"unknown status {part!r}", field="status",
                          details={"allowed": [*states.STATUSES, *STATUS_GROUPS]})
    return frozenset(wanted)


async def list_executions(session: AsyncSession, *, actor: Principal, company_id: str | None = None,
                          status: str | None = None, incident_id: str | None = None, runbook: str | None = None,
                          trigger: str | None = None, limit: int = 50,
                          before: datetime | None = None) -> list[Execution]:
    """Newest first, in the actor's companies. ``runbook``: a runbook id or slug; ``trigger``: auto | manual;
    ``before``: ``created_at`` of the last row of the previous page."""
    stmt = select(Execution)
    if company_id is not None:
        actor.require_company(company_id)
        stmt = stmt.where(Execution.company_id == company_id)
    elif not actor.is_msp_admin:
        stmt = stmt.where(Execution.company_id.in_(sorted(actor.company_ids)))
    wanted = _statuses(status)
    if wanted is not None:
        stmt = stmt.where(Execution.status.in_(sorted(wanted)))
    if incident_id:
        stmt = stmt.where(Execution.incident_id == incident_id)
    if runbook:
        stmt = stmt.where((Execution.runbook_id == runbook) | (Execution.runbook_slug == runbook))
    if trigger:
        stmt = stmt.where(Execution.trigger == trigger)
    if before is not None:
        stmt = stmt.where(Execution.created_at < before)
    stmt = stmt.order_by(Execution.created_at.desc(), Execution.id.desc()).limit(max(1, min(limit, MAX_LIMIT)))
    return list((await session.execute(stmt)).scalars())


async def lock_execution(session: AsyncSession, execution_id: str) -> Execution | None:
    """The execution re-read and locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
    stmt = select(Execution).where(Execution.id == execution_id).with_for_update() \
        .execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_execution(session: AsyncSession, *, actor: Principal, execution_id: str,
                        lock: bool = False) -> Execution:
    execution = await lock_execution(session, execution_id) if lock else await session.get(Execution, execution_id)
    if execution is None or not actor.sees_company(execution.company_id):
        raise NotFound("execution not found")
    return execution


async def approval_of(session: AsyncSession, *, execution_id: str) -> Approval | None:
    """The approve/reject answer of an execution, if any (the caller has checked its scope)."""
    return (await session.execute(select(Approval).where(Approval.execution_id == execution_id))) \
        .scalar_one_or_none()


async def output_of(session: AsyncSession, *, actor: Principal, execution_id: str,
                    after_seq: int = 0) -> list[ExecutionChunk]:
    """The stored output pieces after ``after_seq``, in order (a live view then follows ``execution.output``)."""
    await get_execution(session, actor=actor, execution_id=execution_id)
    rows = await session.execute(select(ExecutionChunk)
                                 .where(ExecutionChunk.execution_id == execution_id, ExecutionChunk.seq > after_seq)
                                 .order_by(ExecutionChunk.seq).limit(OUTPUT_PAGE))
    return list(rows.scalars())


def _may_cancel(actor: Principal, execution: Execution) -> bool:
    return actor.is_msp_admin or actor.role is Role.COMPANY_ADMIN or execution.requested_by_id == actor.user_id


async def cancel(session: AsyncSession, *, actor: Principal, clock: Clock, execution_id: str,
                 note: str = "") -> Execution:
    """Withdraw a run that has not started (queued, waiting for or holding an approval): by whoever asked for it,
    or an admin of its company. Running already: ``Conflict`` (a run is never cut off half-way). Cancelled
    already: no change."""
    execution = await get_execution(session, actor=actor, execution_id=execution_id, lock=True)
    if execution.status == states.CANCELLED:
        return execution
    if execution.status in states.IN_FLIGHT:
        raise Conflict("already running: a run in progress cannot be cancelled",
                       details={"status": execution.status})
    if execution.status in states.FINAL:
        raise Conflict(f"already finished ({execution.status})", details={"status": execution.status})
    if not _may_cancel(actor, execution):
        raise Forbidden("only whoever requested this run, or an admin of its company, may cancel it")
    now = clock.now()
    states.check_move(execution.status, states.CANCELLED)
    before = execution.status
    note = note.strip()[:1000]
    execution.status = states.CANCELLED
    execution.status_reason = f"cancelled by {actor.email}" + (f": {note}" if note else "")
    execution.finished_at = execution.updated_at = now
    await jobs.cancel(session, dedup_key=f"execute:{execution.id}", now=now)  # saves the work; the runner re-checks
    await audit.record(session, clock=clock, action="execution.cancelled", actor=actor,
                       company_id=execution.company_id, target_type="execution", target_id=execution.id,
                       details={"from": before, "note": note[:500], "runbook": execution.runbook_slug})
    if execution.incident_id is not None:
        incident = await session.get(Incident, execution.incident_id)
        if incident is not None:
            await timeline.record(session, incident=incident, kind="runbook", now=now, actor=actor,
                                  body=f"Cancelled {execution.runbook_title or execution.runbook_slug} on "
                                       f"{execution.asset_name}" + (f": {note}" if note else ""),
                                  data={"execution_id": execution.id, "status": states.CANCELLED})
    events.execution_updated(session, execution)
    return execution


async def request_manual_run(session: AsyncSession, *, actor: Principal, clock: Clock, settings: Settings,
                             incident_id: str | None, runbook_id: str, asset_id: str,
                             params: dict[str, Any]) -> Execution:
    """A person asks for a run (from an incident page or the executions page): the asset, the runbook and the
    incident must be of one company in the actor's scope; then the same gates as an automatic run."""
    from alertwhisperer.remediation import gates, runbooks

    asset = await session.get(Asset, asset_id)
    if asset is None or not actor.sees_company(asset.company_id):
        raise NotFound("asset not found")
    company_id = asset.company_id
    if incident_id:
        incident = await session.get(Incident, incident_id)
        if incident is None or not actor.sees_company(incident.company_id):
            raise NotFound("incident not found")
        if incident.company_id != company_id:
            raise Invalid("the asset belongs to another company than the incident", field="asset_id")
        if incident.status == MERGED:
            raise Conflict(f"incident was merged into {incident.merged_into}; run it from that incident",
                           details={"merged_into": incident.merged_into})
    runbook = await runbooks.get_for_actor(session, actor=actor, runbook_id=runbook_id)
    if runbook.company_id is not None and runbook.company_id != company_id:
        raise Invalid("this runbook belongs to another company than the asset", field="runbook_id")
    available = await runbooks.effective_for_company(session, company_id=company_id)
    chosen = next((e for e in available if e.runbook.id == runbook.id), None) \
        or next((e for e in available if e.runbook.slug == runbook.slug), None)  # the company's override
    if chosen is None:
        raise Invalid(f"runbook {runbook.slug} is disabled for this company", field="runbook_id")
    return await gates.request(session, clock=clock, settings=settings, company_id=company_id,
                               runbook_version_id=chosen.version.id, params=dict(params), asset_id=asset.id,
                               incident_id=incident_id or None, actor=actor, trigger="manual")


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


async def self_healed_kpi(session: AsyncSession, *, actor: Principal, company_id: str | None = None,
                          since: datetime) -> dict[str, Any]:
    """Incidents resolved since ``since`` (resolved or closed by now) in the actor's scope: how many, how many
    self-healed (a runbook's health check resolved them) and their share, and the mean time to resolve apart for
    self-healed, automatic (self-healed + alerts cleared) and manual resolutions; plus the runs in the window."""
    inc = select(Incident.resolution_kind, Incident.time_to_resolve_seconds) \
        .where(Incident.resolved_at.is_not(None), Incident.resolved_at >= since,
               Incident.status.in_((RESOLVED, CLOSED)))
    runs = select(Execution.status, Execution.outcome).where(Execution.created_at >= since)
    if company_id is not None:
        actor.require_company(company_id)
        inc, runs = inc.where(Incident.company_id == company_id), runs.where(Execution.company_id == company_id)
    elif not actor.is_msp_admin:
        ids = sorted(actor.company_ids)
        inc, runs = inc.where(Incident.company_id.in_(ids)), runs.where(Execution.company_id.in_(ids))
    by_kind: dict[str, list[float]] = {"self_healed": [], "auto": [], "manual": []}
    counts = {"self_healed": 0, "auto": 0, "manual": 0}
    for kind, seconds in (await session.execute(inc)).all():
        key = kind if kind in counts else "manual"
        counts[key] += 1
        if seconds is not None:
            by_kind[key].append(float(seconds))
    resolved = sum(counts.values())
    run_counts = {"total": 0, "succeeded": 0, "failed": 0, "self_healed": 0, "escalated": 0}
    for status, outcome in (await session.execute(runs)).all():
        run_counts["total"] += 1
        if status == states.SUCCEEDED:
            run_counts["succeeded"] += 1
        elif status in (states.FAILED, states.TIMED_OUT, states.UNDELIVERABLE):
            run_counts["failed"] += 1
        if outcome in ("self_healed", "escalated"):
            run_counts[outcome] += 1
    return {
        "since": since.isoformat(), "company_id": company_id, "resolved": resolved,
        "self_healed": counts["self_healed"], "auto_resolved": counts["auto"], "manual_resolved": counts["manual"],
        "self_healed_pct": round(100 * counts["self_healed"] / resolved, 1) if resolved else None,
        "mttr_self_healed_seconds": _mean(by_kind["self_healed"]),
        "mttr_automatic_seconds": _mean(by_kind["self_healed"] + by_kind["auto"]),
        "mttr_manual_seconds": _mean(by_kind["manual"]),
        "executions": run_counts,
    }
