"""Where an incident stands against its SLA right now, for countdowns (pure; no database).

``sla_status(incident, now)`` gives, for the response and the resolution target, the deadline, the seconds left
(negative once overdue) and a state:

- ``running``: the clock runs; ``warning``: less than the warning lead time left (as the warning timer: at most
  half the target); ``breached``: overdue (marked by
  the breach timer, or past the deadline before the timer ran); ``met``: done in time; ``paused``: the incident
  left the lifecycle without the target being met or missed (merged into another incident).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.models import ACTIVE_STATUSES, MERGED, NEW

DEFAULT_WARNING = timedelta(minutes=30)


def duration_label(seconds: float) -> str:
    """``2d 3h``, ``3h 05m``, ``12m 30s``, ``45s``: compact, for timers."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _responded_at(incident: Incident) -> datetime | None:
    started = incident.sla_started_at
    ack = incident.acknowledged_at
    if ack is not None and (started is None or ack >= started):
        return ack
    if incident.status != NEW and incident.status != MERGED:
        return incident.resolved_at or incident.closed_at or ack  # resolved without an acknowledgement
    return None


def _target(kind: str, due: datetime | None, done_at: datetime | None, breached_at: datetime | None,
            is_pending: bool, now: datetime, warning: timedelta, started: datetime | None) -> dict[str, Any] | None:
    if due is None:
        return None
    if started is not None and due > started:  # like the warning timer: at most half-way through the target
        warning = min(warning, (due - started) / 2)
    remaining = (due - now).total_seconds()
    verb = "Respond" if kind == "response" else "Resolve"
    noun = "Response" if kind == "response" else "Resolution"
    if done_at is not None and not is_pending:
        met = done_at <= due and breached_at is None
        state = "met" if met else "breached"
        label = (f"{'Responded' if kind == 'response' else 'Resolved'} in time" if met
                 else f"{noun} was {duration_label((done_at - due).total_seconds())} late")
    elif not is_pending:
        state, label = ("breached", f"{noun} SLA breached") if breached_at is not None else ("paused", f"{noun} "
                                                                                                       "SLA paused")
    elif breached_at is not None or remaining <= 0:
        state, label = "breached", f"{noun} overdue by {duration_label(remaining)}"
    else:
        state = "warning" if remaining <= warning.total_seconds() else "running"
        label = f"{verb} within {duration_label(remaining)}"
    return {"kind": kind, "label": noun, "due": due.isoformat(), "remaining_seconds": int(remaining),
            "state": state, "text": label, "breached_at": breached_at.isoformat() if breached_at else None,
            "warning_seconds": int(warning.total_seconds()), "ticking": is_pending}


def sla_status(incident: Incident, now: datetime, *, warning: timedelta = DEFAULT_WARNING) -> dict[str, Any]:
    """The countdown data of both targets (each None when the incident has no such deadline).

    ``{"enabled": bool, "started_at": iso | None, "escalation_level": int, "response": {...} | None,
    "resolution": {...} | None}``; a target: ``kind``, ``label``, ``due`` (ISO), ``remaining_seconds``, ``state``
    (met|breached|running|warning|paused), ``text`` (a plain-language line), ``breached_at``, ``warning_seconds``,
    ``ticking`` (the clock still runs: a countdown should tick).
    """
    active = incident.status in ACTIVE_STATUSES
    resolved_at = incident.resolved_at if incident.status not in ACTIVE_STATUSES and incident.status != MERGED \
        else None
    response = _target("response", incident.response_due_at, _responded_at(incident),
                       incident.response_breached_at, incident.status == NEW, now, warning, incident.sla_started_at)
    resolution = _target("resolution", incident.resolution_due_at, resolved_at or (
        incident.closed_at if incident.status != MERGED and not active else None),
        incident.resolution_breached_at, active, now, warning, incident.sla_started_at)
    return {"enabled": response is not None or resolution is not None,
            "started_at": incident.sla_started_at.isoformat() if incident.sla_started_at else None,
            "escalation_level": incident.escalation_level or 0, "response": response, "resolution": resolution}
