"""Incident priority, exactly the seeds' formula, with its breakdown.

    priority = severity base + critical asset bonus + duplicate factor + multi-tool bonus - age decay

* Severity base: critical 90, high 60, medium 30, low 10. The seeds have no ``info``; we give it 5 (below
  low, above nothing) so an info incident still sorts under every real one.
* Critical asset: +20 when any asset in the incident is marked critical.
* Duplicates: +2 per duplicate, at most +20. A *duplicate* is every alert notification folded into the
  incident beyond the first one: repeats of the same alert and other alerts that joined it (resolves do not
  count). "Duplicates: 5 alerts (+10)" in the seeds' example is an incident built from 6 notifications. (The
  seeds' code, ``min(alert_count * 2, 20)``, would also give a lone alert +2; we follow their words, "2
  points per duplicate".)
* Multi-tool: +10 when 2 or more distinct tools report into the incident.
* Age: -1 per full hour since the incident opened (its first alert's event time), at most -10.

Integers throughout, so the same incident at the same ``now`` always has the same score.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

SEVERITY_POINTS: dict[str, int] = {"critical": 90, "high": 60, "medium": 30, "low": 10, "info": 5}
SEVERITY_RANK: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
CRITICAL_ASSET_POINTS = 20
POINTS_PER_DUPLICATE = 2
MAX_DUPLICATE_POINTS = 20
MULTI_TOOL_POINTS = 10
MAX_AGE_DECAY = 10


@dataclass(frozen=True, slots=True)
class PriorityComponent:
    component: str  # "severity" | "critical_asset" | "duplicates" | "multi_tool" | "age"
    points: int
    explanation: str


@dataclass(frozen=True, slots=True)
class PriorityScore:
    total: int
    components: tuple[PriorityComponent, ...]

    def as_list(self) -> list[tuple[str, int, str]]:
        return [(c.component, c.points, c.explanation) for c in self.components]


def priority_score(*, severity: str, critical_asset: bool, duplicates: int, tools: Collection[str],
                   opened_at: datetime, now: datetime) -> PriorityScore:
    distinct = tuple(sorted({t for t in tools if t}))
    hours = max(int((now - opened_at).total_seconds() // 3600), 0)
    return _score(severity, critical_asset, duplicates, distinct, hours)


@lru_cache(maxsize=8192)
def _score(severity: str, critical_asset: bool, duplicates: int, distinct: tuple[str, ...], hours: int
           ) -> PriorityScore:
    base = SEVERITY_POINTS[severity]
    dup_points = min(max(duplicates, 0) * POINTS_PER_DUPLICATE, MAX_DUPLICATE_POINTS)
    decay = min(hours, MAX_AGE_DECAY)
    plural = "" if duplicates == 1 else "s"
    components = (
        PriorityComponent("severity", base, f"severity {severity} ({base})"),
        PriorityComponent("critical_asset", CRITICAL_ASSET_POINTS if critical_asset else 0,
                          "a critical asset is affected" if critical_asset else "no critical asset"),
        PriorityComponent("duplicates", dup_points,
                          f"{duplicates} duplicate{plural} x {POINTS_PER_DUPLICATE}"
                          + (f", capped at {MAX_DUPLICATE_POINTS}" if dup_points == MAX_DUPLICATE_POINTS else "")),
        PriorityComponent("multi_tool", MULTI_TOOL_POINTS if len(distinct) >= 2 else 0,
                          f"{len(distinct)} tool{'s' if len(distinct) != 1 else ''} report"
                          + (f": {', '.join(distinct)}" if distinct else "")),
        PriorityComponent("age", -decay, f"{hours} full hour{'s' if hours != 1 else ''} old"
                          + (f", capped at -{MAX_AGE_DECAY}" if hours > MAX_AGE_DECAY else "")),
    )
    return PriorityScore(total=sum(c.points for c in components), components=components)


def max_severity(a: str, b: str) -> str:
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b
