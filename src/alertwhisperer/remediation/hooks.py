"""Job kinds of the remediation domain and how other domains ask for them (durable jobs, caller's transaction).

``remediation.decide``: the decision engine looks at an incident (enqueued when an incident opens or reopens,
keyed per opening so a retry or a duplicate never decides twice). ``remediation.execute``: one execution's run
(keyed per execution: at most one job, and the handler never starts a dispatched execution again).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.db import new_id
from alertwhisperer.jobs import service as jobs
from alertwhisperer.jobs.models import PENDING, Job

DECIDE_JOB = "remediation.decide"
EXECUTE_JOB = "remediation.execute"
VERIFY_JOB = "remediation.verify"  # a health check that waits: "did the alert resolve within N minutes?"
PATCH_SCAN_JOB = "remediation.patch_scan"


async def request_decision(session: AsyncSession, *, company_id: str, incident_id: str, opening: datetime,
                           now: datetime) -> None:
    """Ask the decision engine about this incident, once per opening (``opening``: when it opened or last reopened,
    its SLA start; a reopen count would not do: reopening after a person's or a runbook's resolve keeps it)."""
    await jobs.enqueue_keyed(session, [Job(
        id=new_id(), kind=DECIDE_JOB, company_id=company_id, due_at=now, created_at=now, status=PENDING,
        attempts=0, max_attempts=5, dedup_key=f"decide:{incident_id}:{opening.isoformat()}",
        payload={"incident_id": incident_id, "opening": opening.isoformat()})])


async def request_execution(session: AsyncSession, *, company_id: str, execution_id: str, now: datetime) -> None:
    """Run this execution (queued, or approved) as soon as a worker is free; once per execution."""
    await jobs.enqueue_keyed(session, [Job(
        id=new_id(), kind=EXECUTE_JOB, company_id=company_id, due_at=now, created_at=now, status=PENDING,
        attempts=0, max_attempts=3, dedup_key=f"execute:{execution_id}", payload={"execution_id": execution_id})])
