"""The ``notify.send`` job: render one delivery, send it over its channel, log how it went.

Idempotent under retry: a delivery already sent (or given up, or suppressed) is not sent again — the status is
checked in the job's own session, which commits the "sent" mark together with the job's completion. A channel
failure is recorded on the delivery (committed before raising, since the worker discards the session of a
failed job), then raised: temporary ones retry with the jobs module's backoff, permanent ones (bad address,
nothing configured, invalid Apprise URL) are buried at once. The incident's timeline says when a notification
went out, and when one was given up.
"""

from __future__ import annotations

from email.utils import formataddr

from alertwhisperer.auth.models import User
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents import timeline
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext, PermanentError, Registry
from alertwhisperer.notify import channels, preferences
from alertwhisperer.notify.channels.email import NOT_CONFIGURED, SmtpConfig
from alertwhisperer.notify.models import NotificationDelivery, NotificationPreference
from alertwhisperer.notify.service import DEAD, FAILED, FINAL, SEND_JOB, SENT, SUPPRESSED
from alertwhisperer.notify.templating import render

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
CHANNEL_NAMES = {"email": "email", "apprise": "Apprise"}

__all__ = ["SEND_JOB", "register", "send"]


class RetryLater(Exception):
    """A temporary channel failure: the worker retries the job with backoff."""


async def _timeline(ctx: JobContext, delivery: NotificationDelivery, body: str, outcome: str) -> None:
    if delivery.incident_id is None:
        return
    incident = await ctx.session.get(Incident, delivery.incident_id)
    if incident is None:
        return
    await timeline.record(ctx.session, incident=incident, kind="notification", now=ctx.clock.now(),
                          actor_name="notifications", body=body,
                          data={"delivery_id": delivery.id, "channel": delivery.channel, "outcome": outcome,
                                "user_id": delivery.user_id, "target": delivery.target})


def _suppress(delivery: NotificationDelivery, why: str) -> None:
    delivery.status = SUPPRESSED
    delivery.error = why


async def send(ctx: JobContext, job: Job) -> None:
    session, now = ctx.session, ctx.clock.now()
    delivery = await session.get(NotificationDelivery, str(job.payload.get("delivery_id", "")))
    if delivery is None or delivery.status in FINAL:
        return  # gone with its incident, or already done: never send twice
    user = await session.get(User, delivery.user_id) if delivery.user_id else None
    if user is None or not user.is_active:
        _suppress(delivery, "the recipient is no longer an active user")
        return
    context = dict(delivery.context or {})
    settings = ctx.settings
    to = formataddr((user.name, user.email))
    if delivery.channel == "email" and SmtpConfig.from_settings(settings) is None and context.get("by_default") \
            and not channels.is_overridden("email"):
        _suppress(delivery, NOT_CONFIGURED)  # the default choice of a server without email: nothing to report
        return
    if delivery.channel == "apprise" and not channels.is_overridden("apprise"):
        if settings is None:
            raise PermanentError("the worker runs without settings: cannot decrypt Apprise URLs")
        row = await session.get(NotificationPreference, delivery.user_id)
        url = preferences.apprise_urls(row, settings.secret()).get(str(context.get("target_id")))
        if url is None:
            _suppress(delivery, "this Apprise target was removed from the user's preferences")
            return
        to = url
    rendered = render(context, public_url=settings.base_url if settings else DEFAULT_PUBLIC_URL)
    delivery.attempts = job.attempts
    who = f"{user.name} ({delivery.target})" if delivery.channel == "apprise" else f"{user.name} <{user.email}>"
    by = CHANNEL_NAMES.get(delivery.channel, delivery.channel)
    try:
        channel = channels.channel_for(delivery.channel, settings)
        await channel.send(channels.Message(to=to, subject=rendered.subject, text=rendered.text, html=rendered.html,
                                            markdown=rendered.markdown, severity=context.get("severity", "info")))
    except channels.ChannelError as exc:
        final = exc.permanent or job.attempts >= job.max_attempts
        delivery.status = DEAD if final else FAILED
        delivery.error = exc.message
        if final:
            await _timeline(ctx, delivery, f"Notification to {who} by {by} failed: {exc.message}", "failed")
        await session.commit()  # the worker rolls a failed job's session back: keep the delivery's record
        if exc.permanent:
            raise PermanentError(exc.message) from None
        raise RetryLater(exc.message) from None
    delivery.status = SENT
    delivery.sent_at = now
    delivery.error = None
    await _timeline(ctx, delivery, f"Notification sent to {who} by {by}", "sent")


def register(registry: Registry) -> None:
    """Add this domain's job handlers to the worker's registry."""
    registry.register(SEND_JOB, send)
