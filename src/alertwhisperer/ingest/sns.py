"""AWS SNS subscription confirmation, done only when the company allows it, as a durable job.

The SubscribeURL was already checked by the cloudwatch adapter (https, sns.<region>.amazonaws.com); the
job checks it again against ``settings.sns_confirm_host_pattern`` before fetching it (no redirects,
explicit timeout), so a forged body cannot make the server call an arbitrary address.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from alertwhisperer.audit import service as audit
from alertwhisperer.ingest.models import Delivery
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext, PermanentError
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants.models import Company
from alertwhisperer.tenants.schemas import IngestSettings

CONFIRM_JOB = "sns.confirm"
TIMEOUT = httpx.Timeout(10.0)


async def on_control(ctx: JobContext, delivery: Delivery) -> None:
    """Called by the inbox for a delivery that carried an SNS control message."""
    control = delivery.control or {}
    kind, details = control.get("kind"), control.get("details") or {}
    company = await ctx.session.get(Company, delivery.company_id)
    if company is None:
        return
    cfg = IngestSettings.model_validate((company.settings or {}).get("ingest") or {})
    topic = details.get("topic_arn")
    if kind == "sns_subscription_confirmation" and cfg.allow_sns_subscription_confirm:
        from alertwhisperer.jobs import service as jobs

        await jobs.enqueue(ctx.session, kind=CONFIRM_JOB, now=ctx.clock.now(), company_id=company.id,
                           dedup_key=f"sns-confirm:{delivery.id}", max_attempts=5,
                           payload={"delivery_id": delivery.id, "url": details.get("subscribe_url"),
                                    "topic_arn": topic})
        return
    action = ("integration.sns_subscription_ignored" if kind == "sns_subscription_confirmation"
              else "integration.sns_unsubscribed")
    await audit.record(ctx.session, clock=ctx.clock, action=action, company_id=company.id,
                       target_type="integration", target_id="cloudwatch",
                       details={"topic_arn": topic, "delivery_id": delivery.id,
                                "hint": "enable 'allow SNS subscription confirmation' in the company's ingest "
                                        "settings, or open the SubscribeURL from the delivery yourself"
                                if kind == "sns_subscription_confirmation" else None})
    emit(ctx.session, Event("integration.sns_" + ("confirmation_pending" if kind == "sns_subscription_confirmation"
                                                  else "unsubscribed"), company.id, {"topic_arn": topic}))


async def confirm(ctx: JobContext, job: Job) -> None:
    url = str(job.payload.get("url") or "")
    parts = urlsplit(url)
    pattern = ctx.settings.sns_confirm_host_pattern if ctx.settings else r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
    allowed_scheme = parts.scheme == "https" or (ctx.settings is not None and ctx.settings.sns_confirm_allow_http)
    if not allowed_scheme or not re.match(pattern, parts.hostname or ""):
        raise PermanentError(f"refusing to fetch SubscribeURL on host {parts.hostname!r}")
    # Network first, database after: no database lock is held while we wait on AWS.
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
        response = await client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"SNS answered {response.status_code} to the confirmation")
    delivery = await ctx.session.get(Delivery, job.payload.get("delivery_id"))
    await audit.record(ctx.session, clock=ctx.clock, action="integration.sns_subscription_confirmed",
                       company_id=job.company_id, target_type="integration", target_id="cloudwatch",
                       details={"topic_arn": job.payload.get("topic_arn"),
                                "delivery_id": delivery.id if delivery else None})
    emit(ctx.session, Event("integration.sns_confirmed", job.company_id, {"topic_arn": job.payload.get("topic_arn")}))
