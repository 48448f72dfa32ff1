"""The inbox: what happens to accepted deliveries after the sender got its 2xx."""

from __future__ import annotations

from sqlalchemy import select, update

from alertwhisperer.correlation.service import correlate_deliveries
from alertwhisperer.db import read_session
from alertwhisperer.ingest import sns
from alertwhisperer.ingest.models import Alert, Delivery
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext, PermanentError
from alertwhisperer.realtime.hub import Event, emit


def _delivery_ids(job: Job) -> list[str]:
    """``{"delivery_id": id}`` (one delivery) or ``{"delivery_ids": [...]}`` (a group-commit batch)."""
    ids = job.payload.get("delivery_ids")
    if isinstance(ids, list):
        return [str(i) for i in ids]
    one = job.payload.get("delivery_id")
    return [str(one)] if one is not None else []


async def process_delivery(ctx: JobContext, job: Job) -> None:
    """Idempotent: a delivery already processed is left alone (a retried job cannot repeat it).

    The alerts are published on the live channel, then correlated into incidents in this transaction
    (``correlation.service.correlate_deliveries``: skips alerts that already have an outcome).
    The job's deliveries are processed in its one transaction, in the order they were accepted. Alert rows
    and one UPDATE here (never the deliveries' raw bodies): this runs for every delivery, next to the
    webhook writer. Everything is read, and correlated, through a read session first; the job's own
    transaction (which on SQLite holds the write lock from its first statement) only writes.
    """
    ids = _delivery_ids(job)
    async with read_session(ctx.session.bind) as reader:
        found = {r.id: r for r in (await reader.execute(
            select(Delivery.id, Delivery.status, Delivery.control).where(Delivery.id.in_(ids)))).all()} if ids else {}
        if not found:
            raise PermanentError(f"delivery {', '.join(ids) or '(none)'} does not exist")
        todo = [found[i] for i in ids if i in found and found[i].status != "processed"]
        if not todo:
            return
        todo_ids = [d.id for d in todo]
        alerts = (await reader.execute(  # read once: for the live events and for correlation
            select(Alert).where(Alert.delivery_id.in_(todo_ids)).order_by(Alert.position))).scalars().all()
        by_delivery: dict[str, list[Alert]] = {}
        for alert in alerts:
            by_delivery.setdefault(alert.delivery_id, []).append(alert)
        for row in todo:  # queued now, published after the commit: alerts first, then what they changed
            for alert in by_delivery.get(row.id, []):
                emit(ctx.session, Event("alert.received", alert.company_id, {
                    "id": alert.id, "source": alert.source, "status": alert.status, "severity": alert.severity,
                    "signature": alert.signature, "asset_ref": alert.asset_ref, "message": alert.message[:300],
                }))
        await correlate_deliveries(ctx.session, now=ctx.clock.now(), delivery_ids=todo_ids, reader=reader,
                                   alerts=alerts)
    await ctx.session.execute(
        update(Delivery).where(Delivery.id.in_(todo_ids), Delivery.status != "processed")
        .values(status="processed", processed_at=ctx.clock.now())
        .execution_options(synchronize_session=False))
    for row in todo:
        if row.control and str(row.control.get("kind", "")).startswith("sns_"):
            delivery = await ctx.session.get(Delivery, row.id)
            if delivery is not None:
                await sns.on_control(ctx, delivery)
