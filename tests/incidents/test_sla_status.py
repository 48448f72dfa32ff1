"""The countdown data (``sla_status``), the policy's arithmetic and the countdown partial (pure, no database)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.sla import sla_status
from alertwhisperer.incidents.sla_countdown import duration_label
from alertwhisperer.incidents.sla_policy import SlaPolicy, deadlines, warning_lead
from alertwhisperer.web.templating import templates

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def make(**fields: Any) -> Incident:
    values: dict[str, Any] = {"company_id": "c", "title": "t", "symptom": "cpu", "severity": "critical", "key": "k",
                              "first_seen": T0, "last_seen": T0, "status": "new", "sla_started_at": T0,
                              "response_due_at": T0 + 30 * M, "resolution_due_at": T0 + 240 * M,
                              "escalation_level": 0}
    values.update(fields)
    return Incident(**values)


def test_running_warning_breached() -> None:
    s = sla_status(make(), T0 + 5 * M)
    assert s["enabled"] is True and s["started_at"] == T0.isoformat()
    r = s["response"]
    assert (r["state"], r["remaining_seconds"], r["text"], r["ticking"]) == ("running", 25 * 60,
                                                                             "Respond within 25m 00s", True)
    assert r["due"] == (T0 + 30 * M).isoformat()
    assert sla_status(make(), T0 + 14 * M)["response"]["state"] == "running"
    warn = sla_status(make(), T0 + 16 * M)["response"]  # 30-min warning, but at most half of the 30-min target
    assert (warn["state"], warn["warning_seconds"]) == ("warning", 15 * 60)
    assert sla_status(make(), T0 + 16 * M, warning=timedelta(minutes=5))["response"]["state"] == "running"
    late = sla_status(make(), T0 + 42 * M)["response"]
    assert (late["state"], late["remaining_seconds"], late["text"]) == ("breached", -12 * 60,
                                                                        "Response overdue by 12m 00s")
    assert sla_status(make(), T0 + 42 * M)["resolution"]["text"] == "Resolve within 3h 18m"


def test_met_breached_and_paused_outcomes() -> None:
    acked = make(status="acknowledged", acknowledged_at=T0 + 10 * M)
    s = sla_status(acked, T0 + 60 * M)
    assert (s["response"]["state"], s["response"]["text"], s["response"]["ticking"]) == ("met", "Responded in time",
                                                                                       False)
    assert s["resolution"]["state"] == "running"
    late = sla_status(make(status="acknowledged", acknowledged_at=T0 + 45 * M, response_breached_at=T0 + 30 * M),
                      T0 + 60 * M)
    assert (late["response"]["state"], late["response"]["text"]) == ("breached", "Response was 15m 00s late")
    done = sla_status(make(status="resolved", acknowledged_at=T0 + M, resolved_at=T0 + 300 * M,
                           resolution_breached_at=T0 + 240 * M, escalation_level=2), T0 + 400 * M)
    assert done["resolution"]["state"] == "breached" and done["escalation_level"] == 2
    merged = sla_status(make(status="merged"), T0 + 5 * M)
    assert merged["response"]["state"] == "paused" and merged["resolution"]["state"] == "paused"
    # a stale acknowledgement from before a reopen does not count as this cycle's response
    reopened = sla_status(make(acknowledged_at=T0 - 60 * M), T0 + 5 * M)
    assert reopened["response"]["state"] == "running"
    none = sla_status(make(response_due_at=None, resolution_due_at=None), T0)
    assert none["enabled"] is False and none["response"] is None


def test_policy_arithmetic() -> None:
    policy = SlaPolicy()
    assert deadlines(policy, "high", T0) == (T0 + 120 * M, T0 + 480 * M)
    assert deadlines(policy, "info", T0) == (None, None)
    assert deadlines(policy, "unheard-of", T0) == (T0 + 1440 * M, T0 + 2880 * M)  # like low
    assert deadlines(SlaPolicy(enabled=False), "critical", T0) == (None, None)
    assert warning_lead(30, 30) == 15 * M and warning_lead(240, 30) == 30 * M and warning_lead(240, 0) is None
    assert duration_label(93784) == "1d 2h" and duration_label(-45) == "45s"


def test_countdown_partial_renders_deadlines_for_running_targets() -> None:
    acked = make(status="acknowledged", acknowledged_at=T0 + 10 * M)
    html = templates.get_template("sla/_countdown.html").render(sla=sla_status(acked, T0 + 20 * M))
    assert 'data-testid="sla-countdown"' in html
    response = re.search(r'<div class="sla-timer sla-met"[^>]*data-sla-kind="response"[^>]*>', html)
    assert response and "data-deadline" not in response.group(0)  # met: nothing ticks
    resolution = re.search(r'<div class="sla-timer sla-running"[^>]*data-sla-kind="resolution"[^>]*>', html)
    assert resolution and f'data-deadline="{(T0 + 240 * M).isoformat()}"' in resolution.group(0)
    assert "Resolve within 3h 40m" in html
    escalated = templates.get_template("sla/_countdown.html").render(
        sla=sla_status(make(escalation_level=3, response_breached_at=T0 + 30 * M), T0 + 40 * M))
    assert "Escalated · level 3" in escalated and "sla-breached" in escalated
    assert templates.get_template("sla/_countdown.html").render(
        sla=sla_status(make(response_due_at=None, resolution_due_at=None), T0)).strip() == ""
