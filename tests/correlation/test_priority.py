"""Priority: exactly the seeds' formula, with its breakdown."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alertwhisperer.correlation.priority import priority_score
from tests.correlation.helpers import T0, Run


def test_the_seeds_example_scores_128() -> None:
    # Database server down: critical (90), critical asset (+20), 5 duplicates (+10), Datadog + Zabbix (+10),
    # 2 hours old (-2) = 128.
    score = priority_score(severity="critical", critical_asset=True, duplicates=5, tools={"datadog", "zabbix"},
                           opened_at=T0, now=T0 + timedelta(hours=2, minutes=59))
    assert score.total == 128
    assert score.as_list() == [
        ("severity", 90, "severity critical (90)"),
        ("critical_asset", 20, "a critical asset is affected"),
        ("duplicates", 10, "5 duplicates x 2"),
        ("multi_tool", 10, "2 tools report: datadog, zabbix"),
        ("age", -2, "2 full hours old"),
    ]


@pytest.mark.parametrize(("severity", "points"), [("critical", 90), ("high", 60), ("medium", 30), ("low", 10),
                                                  ("info", 5)])
def test_severity_base(severity: str, points: int) -> None:
    score = priority_score(severity=severity, critical_asset=False, duplicates=0, tools={"x"}, opened_at=T0, now=T0)
    assert score.total == points


def test_caps() -> None:
    score = priority_score(severity="low", critical_asset=False, duplicates=37, tools=["a", "b", "c", "a"],
                           opened_at=T0, now=T0 + timedelta(hours=30))
    parts = {c.component: c.points for c in score.components}
    assert parts == {"severity": 10, "critical_asset": 0, "duplicates": 20, "multi_tool": 10, "age": -10}
    assert score.total == 30
    assert "capped at 20" in score.components[2].explanation
    assert "capped at -10" in score.components[4].explanation


def test_age_counts_full_hours_only_and_never_adds() -> None:
    def age(delta: timedelta) -> int:
        return priority_score(severity="high", critical_asset=False, duplicates=0, tools=(), opened_at=T0,
                              now=T0 + delta).total - 60
    assert age(timedelta(minutes=59)) == 0
    assert age(timedelta(hours=1)) == -1
    assert age(timedelta(hours=-3)) == 0  # clock skew never raises priority


def test_incident_priority_from_the_engine_matches_the_seeds_example() -> None:
    run = Run()
    # Datadog and Zabbix report the database host down 6 times in all (1 + 5 duplicates).
    run.send(0, source="datadog", asset_ref="acme-db-01", signature="Host is down", severity="critical",
             external_id="dd-1")
    run.send(60, source="zabbix", asset_ref="10.1.0.5", signature="Unavailable by ICMP ping", severity="critical",
             external_id="z-1")
    for i in range(4):
        last = run.send(120 + i, source="datadog", asset_ref="acme-db-01", signature="Host is down",
                        severity="critical", external_id="dd-1")
    assert last.kind == "duplicate"
    incident = run.incident(last)
    assert incident.duplicates == 5
    assert incident.priority(T0 + timedelta(hours=2, minutes=1)).total == 128
    assert last.priority is not None and last.priority.total == 130  # at the time of the last alert: age 0
