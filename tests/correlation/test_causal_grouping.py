"""Regression tests for wrong merges found by the benchmark: topology joins are causal and symptom-aware,
incidents do not absorb later unrelated faults, and a finished incident reopens only by its own key."""

from __future__ import annotations

from alertwhisperer.correlation import AssetInfo, CorrelationPolicy
from tests.correlation.helpers import Run

# fw -> core switch -> db -> app-01/app-02 -> web (depends_on points upstream)
NET = (
    AssetInfo(id="fw", name="fw-01"),
    AssetInfo(id="sw", name="sw-core-01", depends_on=("fw-01",)),
    AssetInfo(id="db", name="db-01", type="database", depends_on=("sw-core-01",)),
    AssetInfo(id="app1", name="app-01", depends_on=("db-01",)),
    AssetInfo(id="app2", name="app-02", depends_on=("db-01",)),
    AssetInfo(id="web", name="web-01", depends_on=("app-01",)),
    AssetInfo(id="nas", name="nas-01", depends_on=("sw-core-01",)),
)


def net_run(**policy: object) -> Run:
    return Run(assets=NET, policy=CorrelationPolicy(**policy))  # type: ignore[arg-type]


def same(run: Run, *decisions: object) -> bool:
    ids = {run.state.canonical(str(d.incident_id)) for d in decisions}  # type: ignore[attr-defined]
    return len(ids) == 1


def test_an_inode_incident_downstream_does_not_absorb_a_network_partition() -> None:
    run = net_run()
    inode = run.send(0, source="zabbix", asset_ref="app-02", signature="Free inodes is less than 20% on volume /")
    sw = run.send(20 * 60, source="nagios", asset_ref="sw-core-01", signature="Host down")
    app = run.send(20 * 60 + 15, source="nagios", asset_ref="app-02", signature="Host down")
    db = run.send(20 * 60 + 20, source="nagios", asset_ref="db-01", signature="Host down")
    assert same(run, sw, app, db)
    assert not same(run, inode, app)
    assert app.explanation.rule == "topology" and app.explanation.root_cause == "sw-core-01"


def test_a_later_effect_joins_its_cause_not_an_older_incident_it_merely_touches() -> None:
    run = net_run()
    deploy = run.send(0, source="datadog", asset_ref="app-01", signature="HTTP 5xx error rate high")
    web = run.send(30, source="datadog", asset_ref="web-01", signature="HTTP 5xx error rate high")
    assert same(run, deploy, web)  # errors on the app explain errors on the web tier right after
    # 8 minutes later the switch fails: an effect seen long before a cause is not explained by it
    sw = run.send(8 * 60, source="nagios", asset_ref="sw-core-01", signature="Host down")
    assert not same(run, deploy, sw)


def test_resource_causes_explain_only_direct_dependents_and_only_shortly() -> None:
    run = net_run()
    cpu = run.send(0, asset_ref="db-01", signature="High CPU utilization")
    app = run.send(60, source="datadog", asset_ref="app-01", signature="Slow responses")
    web = run.send(90, source="datadog", asset_ref="web-01", signature="Response time above 2s")
    late = run.send(12 * 60, source="datadog", asset_ref="app-02", signature="Slow responses")
    assert same(run, cpu, app)  # db cpu explains latency of a service calling it directly
    assert web.incident_id == app.incident_id  # ... and web latency through app-01's latency (direct)
    assert not same(run, cpu, late)  # 12 minutes later: outside the short cause window
    run = net_run()
    cpu = run.send(0, asset_ref="db-01", signature="High CPU utilization")
    web = run.send(60, source="datadog", asset_ref="web-01", signature="Response time above 2s")
    assert not same(run, cpu, web)  # two hops away: a busy CPU is no explanation


def test_a_cause_only_explains_effects_it_can_produce() -> None:
    run = net_run()
    db = run.send(0, asset_ref="db-01", signature="PostgresqlTooManyConnections")
    cert = run.send(30, asset_ref="app-01", signature="SSL certificate expires soon")
    disk = run.send(40, asset_ref="app-01", signature="Disk space is low on /")
    swap = run.send(50, asset_ref="app-02", signature="High swap space usage (less than 50% free)")
    err = run.send(60, source="datadog", asset_ref="app-02", signature="HTTP 5xx error rate high")
    assert len({db.incident_id, cert.incident_id, disk.incident_id, swap.incident_id}) == 4
    assert same(run, db, err)
    assert swap.symptom == "memory"


def test_topology_needs_an_active_cause() -> None:
    run = net_run()
    db = run.send(0, asset_ref="db-01", signature="Host down", external_id="h")
    run.send(60, asset_ref="db-01", signature="Host down", external_id="h", status="resolved")
    app = run.send(120, source="datadog", asset_ref="app-01", signature="HTTP 5xx error rate high")
    assert not same(run, db, app)


def test_a_refire_long_after_it_cleared_does_not_rejoin_an_incident_kept_open_by_others() -> None:
    run = net_run()
    disk = run.send(0, asset_ref="db-01", signature="Disk space is low on /", external_id="x")
    slow = run.send(60, source="zabbix", asset_ref="db-01", signature="Slow queries on MySQL", external_id="z")
    assert same(run, disk, slow)  # a full disk slows the database
    run.send(120, asset_ref="db-01", signature="Disk space is low on /", external_id="x", status="resolved")
    soon = run.send(600, asset_ref="db-01", signature="Disk space is low on /", external_id="x")
    assert same(run, disk, soon) and soon.explanation.rule == "refire"
    run.send(660, asset_ref="db-01", signature="Disk space is low on /", external_id="x", status="resolved")
    again = run.send(3 * 3600, asset_ref="db-01", signature="Disk space is low on /", external_id="x")
    assert again.kind == "new_incident"  # the old incident is still open (slow queries), but this is a new fault


def test_a_finished_incident_reopens_only_by_its_own_key() -> None:
    run = net_run()
    mem = run.send(0, asset_ref="app-01", signature="Memory high", external_id="m")
    run.send(60, asset_ref="app-01", signature="Memory high", external_id="m", status="resolved")  # resolves 360 s
    oom = run.send(600, asset_ref="app-01", signature="HostOomKillDetected")
    assert oom.kind == "new_incident" and not same(run, mem, oom)
    back = run.send(900, source="zabbix", asset_ref="app-01", signature="Memory usage high")
    assert back.explanation.rule in {"reopen", "related_symptom"}


def test_a_new_storm_is_not_folded_into_a_finished_incident_of_one_of_its_hosts() -> None:
    run = net_run()
    old = run.send(0, source="nagios", asset_ref="192.0.2.1", signature="Host down", external_id="a")
    run.send(60, source="nagios", asset_ref="192.0.2.1", signature="Host down", external_id="a", status="resolved")
    storm = [run.send(1200 + i, source="nagios", asset_ref=f"192.0.2.{i}", signature="Host down",
                      external_id=f"s{i}") for i in (2, 3, 4)]
    refire = run.send(1210, source="nagios", asset_ref="192.0.2.1", signature="Host down", external_id="a")
    assert same(run, *storm, refire)
    assert not same(run, old, refire)
    assert run.incident(old).status_at(storm[0].at) == "resolved"


def test_resource_usage_before_a_service_effect_on_the_same_host_is_related_after_it_is_not() -> None:
    run = net_run()
    mem = run.send(0, asset_ref="web-01", signature="Memory high")
    down = run.send(120, asset_ref="web-01", signature="Service nginx is down")
    assert same(run, mem, down)
    run = net_run()
    down = run.send(0, asset_ref="web-01", signature="Service nginx is down")
    swap = run.send(120, asset_ref="web-01", signature="Swap usage high")
    assert not same(run, down, swap)  # usage noise after the fact explains nothing
