"""Explaining away: an alert joins the incident of the best explanation, not every incident it touches; causes
must be active and come first; a late cause takes only effects nothing else explains; recurrences and storms
are measured from the problem's own alerts. One test per rule (see ``matching`` and ``causality``)."""

from __future__ import annotations

from alertwhisperer.correlation.causality import CAUSED_BY, CAUSES, PEER, causal_gap, same_asset
from tests.correlation.helpers import T0
from tests.correlation.test_causal_grouping import net_run, same


def test_same_asset_relations_are_directional() -> None:
    assert same_asset("memory", "oom") == (CAUSES, True)  # memory pressure ends in an OOM kill, however long
    assert same_asset("oom", "memory") == (CAUSED_BY, True)
    assert same_asset("oom", "service_down:nginx") == (CAUSES, False)
    assert same_asset("http_errors", "latency") == (PEER, False)
    assert same_asset("db_slow", "db_connections") == (PEER, False)
    assert same_asset("cpu", "memory") is None  # two usage alerts explain nothing about each other
    assert same_asset("memory", "db_connections") is None
    assert same_asset("latency", "oom") == (CAUSED_BY, False)  # latency does not cause an OOM kill


def test_causal_gap_effect_after_cause_or_noticed_just_before() -> None:
    from datetime import timedelta

    at = T0
    assert causal_gap("host_down", "service_down:http", at, at + timedelta(seconds=30), None) == timedelta(seconds=30)
    assert causal_gap("host_down", "service_down:http", at, at - timedelta(seconds=90), None) is not None
    assert causal_gap("host_down", "db_connections", at, at - timedelta(seconds=136), None) is None
    assert causal_gap("cpu", "latency", at, at - timedelta(seconds=5), None) is None  # usage must come first
    assert causal_gap("cpu", "latency", at, at + timedelta(minutes=6), timedelta(minutes=5)) is None


def test_the_closest_failure_explains_an_effect_not_resource_usage_nearby() -> None:
    run = net_run()
    load = run.send(0, asset_ref="app-02", signature="High CPU utilization")
    db = run.send(60, asset_ref="db-01", signature="PostgresqlTooManyConnections")
    slow = run.send(100, source="datadog", asset_ref="app-02", signature="Slow responses")
    assert same(run, db, slow)  # the failing database it calls, not the busy CPU next to it
    assert not same(run, load, slow) and not slow.merged


def test_of_two_failures_the_closest_in_time_explains_the_effect() -> None:
    run = net_run()
    down = run.send(0, source="nagios", asset_ref="web-01", signature="Host down")
    db = run.send(400, asset_ref="db-01", signature="PostgresqlTooManyConnections")
    app = run.send(430, source="datadog", asset_ref="app-01", signature="Slow responses")
    err = run.send(460, source="datadog", asset_ref="web-01", signature="HTTP 5xx error rate high")
    assert same(run, db, app, err)  # the database chain started 30 s before, the host went down 7 min before
    assert not same(run, down, err)


def test_a_resource_cause_that_already_cleared_explains_nothing() -> None:
    run = net_run()
    cpu = run.send(0, asset_ref="app-01", signature="High CPU utilization", external_id="c")
    run.send(40, asset_ref="app-01", signature="High CPU utilization", external_id="c", status="resolved")
    slow = run.send(120, source="datadog", asset_ref="app-01", signature="Slow responses")
    assert not same(run, cpu, slow)  # a spike that ended a minute before is not why it is slow now


def test_memory_pressure_explains_an_oom_kill_long_after_it_started() -> None:
    run = net_run()
    mem = run.send(0, asset_ref="app-01", signature="Memory high", external_id="m")
    oom = run.send(40 * 60, asset_ref="app-01", signature="HostOomKillDetected")
    restart = run.send(40 * 60 + 20, source="nagios", asset_ref="app-01", signature="Service nginx is down")
    assert same(run, mem, oom, restart)
    assert oom.explanation.rule == "related_symptom"


def test_an_oom_kill_is_not_explained_by_latency_that_started_before_it() -> None:
    run = net_run()
    slow = run.send(0, source="datadog", asset_ref="app-01", signature="Slow responses")
    oom = run.send(6 * 60, asset_ref="app-01", signature="HostOomKillDetected")
    assert not same(run, slow, oom)


def test_a_late_cause_takes_only_effects_nothing_else_explains() -> None:
    run = net_run()
    load = run.send(0, asset_ref="app-01", signature="High CPU utilization")
    slow = run.send(30, source="datadog", asset_ref="app-01", signature="Slow responses")
    assert same(run, load, slow)  # explained by the busy CPU
    db = run.send(60, asset_ref="db-01", signature="Slow queries on PostgreSQL")
    assert not same(run, db, slow)  # already explained: the database does not pull the CPU incident in
    run = net_run()
    slow = run.send(30, source="datadog", asset_ref="app-01", signature="Slow responses")
    db = run.send(60, asset_ref="db-01", signature="Slow queries on PostgreSQL")
    assert same(run, db, slow)  # unexplained, and noticed just before the cause: the cause takes it


def test_a_degradation_seen_minutes_before_an_outage_is_an_older_problem() -> None:
    run = net_run()
    conns = run.send(0, asset_ref="db-01", signature="PostgresqlTooManyConnections")
    sw = run.send(136, source="nagios", asset_ref="sw-core-01", signature="Host down")
    assert not same(run, conns, sw)
    down = run.send(150, source="nagios", asset_ref="nas-01", signature="Host down")
    assert same(run, sw, down)


def test_a_busy_upstream_slows_its_callers_but_does_not_take_their_services_down() -> None:
    run = net_run()
    swap = run.send(0, asset_ref="db-01", signature="High swap space usage")
    down = run.send(120, source="nagios", asset_ref="app-01", signature="Service nginx is down")
    slow = run.send(130, source="datadog", asset_ref="app-02", signature="Slow responses")
    assert not same(run, swap, down)
    assert same(run, swap, slow)


def test_simultaneous_alerts_group_the_same_in_any_order() -> None:
    def run_in(order: list[int]) -> set[frozenset[int]]:
        run = net_run()
        run.send(0, asset_ref="app-01", signature="High CPU utilization")
        sends = {1: dict(source="datadog", asset_ref="app-01", signature="Slow responses"),
                 2: dict(asset_ref="db-01", signature="Slow queries on PostgreSQL"),
                 3: dict(source="datadog", asset_ref="web-01", signature="HTTP 5xx error rate high")}
        ids = {i: run.send(60, **sends[i]) for i in order}
        groups: dict[str, set[int]] = {}
        for i, d in ids.items():
            groups.setdefault(run.state.canonical(str(d.incident_id)), set()).add(i)
        return {frozenset(g) for g in groups.values()}

    first = run_in([1, 2, 3])
    assert all(run_in(order) == first for order in ([3, 2, 1], [2, 1, 3], [2, 3, 1], [1, 3, 2], [3, 1, 2]))


def test_a_recurrence_is_measured_from_when_its_own_alerts_cleared() -> None:
    run = net_run()
    inode = run.send(0, asset_ref="db-01", signature="Free inodes is less than 20% on volume /", external_id="i")
    slow = run.send(60, source="zabbix", asset_ref="db-01", signature="Slow queries on MySQL", external_id="q")
    run.send(120, asset_ref="db-01", signature="Free inodes is less than 20% on volume /", external_id="i",
             status="resolved")
    run.send(50 * 60, source="zabbix", asset_ref="db-01", signature="Slow queries on MySQL", external_id="q",
             status="resolved")  # the incident stays open (slow queries) until 55 min
    disk = run.send(70 * 60, source="zabbix", asset_ref="db-01", signature="Free disk space is less than 5%")
    assert same(run, inode, slow)
    assert disk.kind == "new_incident"  # the disk problem cleared 68 min before: not a reopen


def test_a_storm_does_not_swallow_an_old_incident_of_one_of_its_hosts() -> None:
    run = net_run()
    old = run.send(0, source="nagios", asset_ref="app-01", signature="Host down", external_id="o")
    storm = [run.send(16 * 60 + i, source="zabbix", asset_ref=ref, signature="Unavailable by ICMP ping")
             for i, ref in enumerate(("app-01", "app-02", "nas-01", "db-01"))]
    assert same(run, old, storm[0])  # the host is still down: another tool's view of it
    assert same(run, *storm[1:])
    assert not same(run, old, storm[1])


def test_a_busy_cpu_explains_slowness_on_its_host_not_errors() -> None:
    run = net_run()
    cpu = run.send(0, asset_ref="web-01", signature="High CPU utilization")
    slow = run.send(60, source="datadog", asset_ref="web-01", signature="Slow responses")
    assert same(run, cpu, slow)
    run = net_run()
    cpu = run.send(0, asset_ref="web-01", signature="High CPU utilization")
    err = run.send(60, source="datadog", asset_ref="web-01", signature="HTTP 5xx error rate high")
    assert not same(run, cpu, err)


def test_a_long_running_problem_reported_again_joins_a_fresher_explanation_first() -> None:
    run = net_run()
    old = run.send(0, source="nagios", asset_ref="app-01", signature="Service nginx is down", external_id="n")
    run.send(20 * 60, source="nagios", asset_ref="app-01", signature="Service nginx is down", external_id="n")
    db = run.send(30 * 60, source="nagios", asset_ref="db-01", signature="Host down")
    again = run.send(30 * 60 + 40, source="zabbix", asset_ref="app-01", signature="Service nginx is down")
    assert same(run, db, again)  # the database host that just went down, not the 30-minute-old outage
    assert not same(run, old, again)
    alone = net_run()
    first = alone.send(0, source="nagios", asset_ref="app-01", signature="Service nginx is down", external_id="n")
    later = alone.send(20 * 60, source="zabbix", asset_ref="app-01", signature="Service nginx is down")
    assert same(alone, first, later) and later.explanation.rule == "key"  # nothing fresher: the same problem


def test_a_refire_explained_by_a_live_upstream_outage_joins_the_outage_not_its_old_incident() -> None:
    run = net_run()
    down = run.send(0, source="nagios", asset_ref="nas-01", signature="Host down", external_id="h")
    svc = run.send(10, source="nagios", asset_ref="nas-01", signature="Service nginx is down", external_id="s")
    assert same(run, down, svc)  # kept open by the service check
    run.send(300, source="nagios", asset_ref="nas-01", signature="Host down", external_id="h", status="resolved")
    sw = run.send(900, source="nagios", asset_ref="sw-core-01", signature="Host down")
    again = run.send(930, source="nagios", asset_ref="nas-01", signature="Host down", external_id="h")
    assert same(run, sw, again)  # the switch that just failed explains it, not the outage that had cleared
    assert not same(run, down, again)
