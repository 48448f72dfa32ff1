"""Health checks: did the run fix it? The runbook says how to tell.

``command``: a command on the same target through the same executor, passing when its exit code is
``expect_exit``. ``http``: a GET of the (rendered) URL from the Alert Whisperer server, passing on
``expect_status``. ``alert_resolved``: the incident's alerts cleared within ``within_minutes`` — decided later by
``runner.verify_job`` (``alert_resolved``). No check defined: a successful run counts as healthy. The result is
stored in ``execution.health`` as ``{status: passed|failed|pending|skipped, kind, detail, checked_at}``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.models import ACTIVE_STATUSES, CLOSED, RESOLVED
from alertwhisperer.remediation import spec as specs
from alertwhisperer.remediation.executors.base import Command, Executor, RunResult, Target

PASSED, FAILED, PENDING, SKIPPED = "passed", "failed", "pending", "skipped"
DETAIL_TAIL = 1000  # characters of a check command's output kept in the detail


@dataclass(frozen=True)
class HealthResult:
    status: str  # passed | failed | pending | skipped
    kind: str  # command | http | alert_resolved | "" (none defined)
    detail: str

    @property
    def passed(self) -> bool:
        """Only a check that ran and passed proves the fix: an unchecked run never self-heals an incident."""
        return self.status == PASSED

    def as_dict(self, checked_at: datetime | None) -> dict[str, Any]:
        return {"status": self.status, "kind": self.kind, "detail": self.detail[:2000],
                "checked_at": checked_at.isoformat() if checked_at is not None else None}


NONE_DEFINED = HealthResult(SKIPPED, "", "no health check defined: nothing proves the run fixed the incident")


def needs_remote_check(spec: specs.RunbookSpec) -> bool:
    """A check the runner makes right after the run (command or http), as opposed to later or none."""
    return spec.health_check is not None and spec.health_check.kind in ("command", "http")


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= DETAIL_TAIL else "…" + text[-DETAIL_TAIL:]


async def check_now(spec: specs.RunbookSpec, *, target: Target, executor: Executor,
                    params: dict[str, Any]) -> HealthResult:
    """Make a command or http check (after its ``delay_seconds``). Never raises: a problem is a failed check."""
    health = spec.health_check
    if health is None:
        return NONE_DEFINED
    if health.delay_seconds:
        await asyncio.sleep(health.delay_seconds)
    try:
        if health.kind == "command":
            return await _command(spec, target=target, executor=executor, params=params)
        if health.kind == "http":
            return await _http(spec, params=params)
    except Exception as exc:  # a check that cannot even be made did not pass
        return HealthResult(FAILED, health.kind, f"the check could not be made: {exc}")
    return HealthResult(SKIPPED, health.kind, "checked later")


async def _command(spec: specs.RunbookSpec, *, target: Target, executor: Executor,
                   params: dict[str, Any]) -> HealthResult:
    health = spec.health_check
    assert health is not None
    rendered = specs.render_health_command(spec, target.os, params)
    if rendered is None:
        return HealthResult(SKIPPED, "command", f"no health check command for {target.os}: not checked")
    script, shell = rendered
    command = Command(script=script, shell=shell, timeout_seconds=float(health.timeout_seconds),
                      delivery_timeout_seconds=float(spec.delivery_timeout_seconds))
    try:
        result: RunResult = await asyncio.wait_for(
            executor.run(target, command), timeout=health.timeout_seconds + spec.delivery_timeout_seconds + 30)
    except TimeoutError:
        return HealthResult(FAILED, "command", "the health check did not return in time")
    output = _tail(result.stdout + ("\n" + result.stderr if result.stderr else ""))
    if result.status in ("undeliverable", "timed_out") or result.exit_code is None:
        return HealthResult(FAILED, "command", f"{result.status}: {result.error or 'no exit code'}"
                                               + (f"\n{output}" if output else ""))
    ok = result.exit_code == health.expect_exit
    detail = f"`{script.strip()[:200]}` exited {result.exit_code} (expected {health.expect_exit})"
    return HealthResult(PASSED if ok else FAILED, "command", detail + (f"\n{output}" if output else ""))


async def _http(spec: specs.RunbookSpec, *, params: dict[str, Any]) -> HealthResult:
    health = spec.health_check
    assert health is not None
    url = specs.render_health_url(spec, params)
    if url is None:
        return HealthResult(SKIPPED, "http", "no URL: not checked")
    try:
        async with httpx.AsyncClient(timeout=float(health.timeout_seconds), follow_redirects=False) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        return HealthResult(FAILED, "http", f"GET {url} failed: {type(exc).__name__}: {exc}"[:1000])
    ok = response.status_code == health.expect_status
    return HealthResult(PASSED if ok else FAILED, "http",
                        f"GET {url} answered {response.status_code} (expected {health.expect_status})")


def alert_resolved(incident: Incident | None, *, since: datetime | None) -> HealthResult:
    """Whether the incident's alerts have cleared since the run started: the incident resolved by its alerts (or
    already marked self-healed) after ``since``, or still open but with every alert cleared (its resolve hold
    running: ``resolves_at`` set)."""
    if incident is None:
        return HealthResult(SKIPPED, "alert_resolved", "no incident to watch")
    after = since is None or (incident.resolved_at is not None and incident.resolved_at >= since)
    if incident.status in (RESOLVED, CLOSED) and incident.resolution_kind in ("auto", "self_healed") and after:
        return HealthResult(PASSED, "alert_resolved", "the incident's alerts cleared")
    if incident.status in ACTIVE_STATUSES and incident.resolves_at is not None:
        return HealthResult(PASSED, "alert_resolved", "every alert of the incident has cleared")
    if incident.status in (RESOLVED, CLOSED):
        return HealthResult(FAILED, "alert_resolved",
                            f"the incident was resolved by hand ({incident.resolution_kind or 'manual'}), "
                            "not by its alerts clearing")
    return HealthResult(FAILED, "alert_resolved", "the incident's alerts are still firing")
