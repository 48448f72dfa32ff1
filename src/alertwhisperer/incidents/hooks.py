"""What correlation tells the incident lifecycle, as durable jobs written in correlation's own transaction.

Correlation stays fast and knows nothing of assignment, SLA or notifications: it only enqueues a
``incident.lifecycle`` job when an incident opens, reopens or resolves by itself (its alerts cleared). The
handler (``incidents.flows.lifecycle_job``) assigns, starts or stops SLA timers and notifies.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.db import new_id
from alertwhisperer.jobs.models import PENDING, Job

LIFECYCLE_JOB = "incident.lifecycle"
OPENED = "opened"
REOPENED = "reopened"
AUTO_RESOLVED = "auto_resolved"
EVENTS = (OPENED, REOPENED, AUTO_RESOLVED)


async def notify(session: AsyncSession, *, company_id: str, incident_id: str, event: str, now: datetime) -> None:
    """Enqueue the lifecycle job for ``event`` (one of ``EVENTS``) in the caller's transaction."""
    if event not in EVENTS:
        raise ValueError(f"unknown lifecycle event {event!r}")
    # Added, not flushed: correlation may open hundreds of incidents in one batch, and a flush each would
    # cost more than the whole decision; the job is written with the batch's next flush or commit.
    session.add(Job(id=new_id(), kind=LIFECYCLE_JOB, company_id=company_id, due_at=now, created_at=now,
                    status=PENDING, attempts=0, max_attempts=8,
                    payload={"incident_id": incident_id, "event": event, "at": now.isoformat()}))
