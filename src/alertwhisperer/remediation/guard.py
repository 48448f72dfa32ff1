"""The loop guard and the cooldown: checked by the runner just before a run is handed to an executor.

**Loop guard**: the same runbook on the same asset ran (reached ``dispatched`` or later) ``max_runs_per_hour``
times within the last hour → this run is cancelled and a technician takes over (a fix that keeps being needed is
not a fix). **Cooldown**: the same runbook finished on the same asset less than its ``cooldown_minutes`` ago → this
run is cancelled (the last one needs time to show its effect).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.remediation.models import Execution
from alertwhisperer.tenants.models import Asset

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Stop:
    kind: str  # loop_guard | cooldown
    reason: str


async def runs_in_window(session: AsyncSession, *, runbook_slug: str, asset_id: str, now: datetime,
                         exclude_id: str | None = None) -> int:
    """Runs of this runbook on this asset handed to an executor within the last hour."""
    stmt = select(func.count()).select_from(Execution).where(
        Execution.runbook_slug == runbook_slug, Execution.asset_id == asset_id,
        Execution.dispatched_at.is_not(None), Execution.dispatched_at > now - WINDOW)
    if exclude_id is not None:
        stmt = stmt.where(Execution.id != exclude_id)
    return int((await session.execute(stmt)).scalar_one())


async def last_finished(session: AsyncSession, *, runbook_slug: str, asset_id: str,
                        exclude_id: str | None = None) -> datetime | None:
    """When a run of this runbook on this asset last finished (only runs that reached the asset count)."""
    stmt = select(func.max(Execution.finished_at)).where(
        Execution.runbook_slug == runbook_slug, Execution.asset_id == asset_id,
        Execution.dispatched_at.is_not(None), Execution.finished_at.is_not(None))
    if exclude_id is not None:
        stmt = stmt.where(Execution.id != exclude_id)
    value: datetime | None = (await session.execute(stmt)).scalar_one_or_none()
    return value


def _minutes(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def check(session: AsyncSession, *, execution: Execution, max_runs_per_hour: int, cooldown_minutes: int,
                now: datetime) -> Stop | None:
    """Whether this execution must not run now, and why (None: it may run)."""
    if execution.asset_id is None:
        return None  # the asset is gone: resolving the target refuses it
    # Two workers dispatching on the same asset at once would both count the same runs: the asset's row is locked
    # until the caller's transaction (which moves this execution to dispatched) ends. SQLite has one writer anyway.
    await session.execute(select(Asset.id).where(Asset.id == execution.asset_id).with_for_update())
    ran = await runs_in_window(session, runbook_slug=execution.runbook_slug, asset_id=execution.asset_id, now=now,
                               exclude_id=execution.id)
    if ran >= max_runs_per_hour:
        times = "once" if ran == 1 else f"{ran} times"
        return Stop("loop_guard", f"loop guard: {execution.runbook_slug} ran {times} on {execution.asset_name} in "
                                  f"the last hour (the limit is {max_runs_per_hour}); a technician should look")
    if cooldown_minutes > 0:
        finished = await last_finished(session, runbook_slug=execution.runbook_slug, asset_id=execution.asset_id,
                                       exclude_id=execution.id)
        if finished is not None and now - finished < timedelta(minutes=cooldown_minutes):
            wait = timedelta(minutes=cooldown_minutes) - (now - finished)
            return Stop("cooldown", f"cooldown: {execution.runbook_slug} finished on {execution.asset_name} "
                                    f"{_minutes(now - finished)} ago; the runbook's cooldown is {cooldown_minutes} "
                                    f"minutes (about {_minutes(wait + timedelta(seconds=59))} left)")
    return None
