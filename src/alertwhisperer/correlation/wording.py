"""The human-readable reasons attached to correlation decisions."""

from __future__ import annotations

from datetime import timedelta

from alertwhisperer.correlation.context import Tenant
from alertwhisperer.correlation.matching import Match
from alertwhisperer.correlation.state import IncidentState
from alertwhisperer.correlation.symptoms import base_class


def human(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def join_reason(rule: str, best: Match, incident: IncidentState, tenant: Tenant, *, key: str, symptom: str,
                asset: str) -> str:
    """Why an alert joined (or reopened) ``incident`` under ``rule``."""
    gap = human(best.gap)
    policy = tenant.policy
    root = tenant.assets.display_name(incident.root)
    if rule == "key":
        return f"Joined incident {incident.id}: same {policy.key} key {key!r}, {gap} from its alerts"
    if rule == "reopen":
        return f"Reopened incident {incident.id}: same key {key!r}, it resolved {gap} ago (reopen window " \
               f"{policy.reopen_minutes} min)"
    if rule == "related_symptom":
        return f"Joined incident {incident.id}: {symptom} on {asset} is related to {best.note} on the same " \
               f"asset, {gap} apart"
    if rule == "topology":
        path = " → ".join(best.path)
        return f"Joined incident {incident.id}: {asset} is linked by depends_on ({path}), {gap} apart; " \
               f"probable root cause {root}"
    return f"Joined incident {incident.id}: alert storm, {best.note} assets failing with " \
           f"{base_class(symptom)} within {policy.storm_window_seconds} s; first failing: {root}"
