"""The inbox: what happens to an accepted delivery after the sender got its 2xx."""

from __future__ import annotations

from sqlalchemy import select

from alertwhisperer.ingest import sns
from alertwhisperer.ingest.models import Alert, Delivery
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext, PermanentError
from alertwhisperer.realtime.hub import Event, emit


async def process_delivery(ctx: JobContext, job: Job) -> None:
    """Idempotent: a delivery already processed is left alone (a retried job cannot repeat it).

    Correlation (the next issue) hooks in here; today the alerts are published on the live channel.
    """
    delivery = await ctx.session.get(Delivery, job.payload.get("delivery_id"))
    if delivery is None:
        raise PermanentError(f"delivery {job.payload.get('delivery_id')} does not exist")
    if delivery.status == "processed":
        return
    alerts = (await ctx.session.execute(
        select(Alert).where(Alert.delivery_id == delivery.id).order_by(Alert.position)
    )).scalars().all()
    delivery.status = "processed"
    delivery.processed_at = ctx.clock.now()
    if delivery.control and str(delivery.control.get("kind", "")).startswith("sns_"):
        await sns.on_control(ctx, delivery)
    for alert in alerts:
        emit(ctx.session, Event("alert.received", alert.company_id, {
            "id": alert.id, "source": alert.source, "status": alert.status, "severity": alert.severity,
            "signature": alert.signature, "asset_ref": alert.asset_ref, "message": alert.message[:300],
        }))
