"""correlate(): dedup, cross-tool grouping, related symptoms, topology, storms, keys and windows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alertwhisperer.correlation import CorrelationPolicy, Tenant, TenantState, correlate
from tests.correlation.helpers import T0, Run, alert


def test_repeats_are_duplicates_that_update_the_alert_and_never_open_an_incident() -> None:
    run = Run()
    first = run.send(0, asset_ref="10.1.0.5:9100", external_id="fp1", severity="high")
    again = run.send(60, asset_ref="10.1.0.5:9100", external_id="fp1", severity="critical", message="now 1% left")
    ack = run.send(90, asset_ref="10.1.0.5:9100", external_id="fp1", status="acknowledged")
    assert first.kind == "new_incident"
    assert (again.kind, again.incident_id, again.outcome) == ("duplicate", first.incident_id, "duplicate")
    assert ack.kind == "duplicate" and "Acknowledgement" in ack.reason
    stored = run.state.alerts[first.identity]
    assert (stored.count, stored.message, stored.acknowledged) == (3, "", True)
    incident = run.incident(first)
    assert (incident.severity, incident.duplicates, len(run.state.incidents)) == ("critical", 2, 1)
    assert again.explanation.rule == "identity"


def test_same_symptom_from_three_tools_via_ip_port_fqdn_and_instance_id_is_one_incident() -> None:
    run = Run()
    a = run.send(0, source="alertmanager", asset_ref="10.1.0.5:9100", signature="NodeFilesystemAlmostOutOfSpace",
                 external_id="fp1", severity="critical")
    b = run.send(40, source="zabbix", asset_ref="acme-db-01.acme.internal",
                 signature="Free disk space is less than 5% on volume /", external_id="9001")
    c = run.send(90, source="cloudwatch", asset_ref="i-0abc123def4567890", signature="rds-storage",
                 labels={"metric_name": "FreeStorageSpace"}, external_id="arn:alarm")
    assert [d.kind for d in (a, b, c)] == ["new_incident", "correlated", "correlated"]
    assert a.incident_id == b.incident_id == c.incident_id
    assert [d.asset.matched_by for d in (a, b, c)] == ["ip", "fqdn", "instance id"]
    assert b.explanation.rule == "key" and b.explanation.key == "db|disk"
    assert b.explanation.time_gap_seconds == 40.0
    assert "same asset+symptom key 'db|disk'" in b.reason
    incident = run.incident(c)
    assert incident.tools == {"alertmanager", "zabbix", "cloudwatch"}
    assert c.priority is not None and dict((x.component, x.points) for x in c.priority.components)["multi_tool"] == 10


def test_the_seeds_rule_asset_signature_splits_the_same_fault() -> None:
    run = Run(policy=CorrelationPolicy(key="asset+signature", topology=False, related_symptoms=False))
    run.send(0, source="alertmanager", asset_ref="10.1.0.5:9100", signature="NodeFilesystemAlmostOutOfSpace")
    run.send(40, source="zabbix", asset_ref="acme-db-01", signature="Free disk space is less than 5% on volume /")
    assert len(run.state.incidents) == 2


def test_custom_label_key_groups_by_those_labels_across_assets() -> None:
    run = Run(policy=CorrelationPolicy(key="labels", key_labels=("cluster",), topology=False, storm=False))
    a = run.send(0, asset_ref="acme-web-01", signature="High CPU", labels={"cluster": "k1"})
    b = run.send(10, asset_ref="acme-mail-01", signature="Disk full", labels={"cluster": "k1"})
    c = run.send(20, asset_ref="acme-mail-01", signature="Disk full", labels={"cluster": "k2"})
    assert a.incident_id == b.incident_id != c.incident_id
    assert b.explanation.key == "labels|cluster=k1"


def test_an_unrelated_symptom_on_the_same_asset_opens_its_own_incident() -> None:
    run = Run()
    disk = run.send(0, asset_ref="acme-db-01", signature="Disk space is low on /")
    cert = run.send(60, source="uptime-kuma", asset_ref="https://acme-db-01.acme.internal/",
                    signature="TLS certificate expiring")
    backup = run.send(90, source="generic", asset_ref="acme-db-01", signature="backup_failed")
    assert cert.kind == backup.kind == "new_incident"
    assert len({disk.incident_id, cert.incident_id, backup.incident_id}) == 3


def test_related_symptoms_on_one_asset_are_one_incident() -> None:
    run = Run()
    mem = run.send(0, asset_ref="acme-web-01", signature="Memory high")
    oom = run.send(120, source="alertmanager", asset_ref="10.1.0.20:9100", signature="HostOomKillDetected")
    down = run.send(150, source="zabbix", asset_ref="acme-web-01", signature="Service nginx is down")
    assert mem.incident_id == oom.incident_id == down.incident_id
    assert oom.explanation.rule == "related_symptom"
    assert "oom on acme-web-01 is related to memory on the same asset" in oom.reason
    assert run.incident(down).symptoms == {"memory", "oom", "service_down:nginx"}


def test_related_symptoms_only_within_the_window() -> None:
    run = Run()
    a = run.send(0, asset_ref="acme-web-01", signature="Memory high", external_id="m")
    run.send(60, asset_ref="acme-web-01", signature="Memory high", external_id="m", status="resolved")
    b = run.send(60 + 16 * 60 + 5 * 60 + 31 * 60, asset_ref="acme-web-01", signature="HostOomKillDetected")
    assert b.kind == "new_incident" and b.incident_id != a.incident_id


def test_topology_downstream_effect_joins_the_upstream_incident_which_is_root_cause() -> None:
    run = Run()
    db = run.send(0, asset_ref="acme-db-01", signature="PostgresqlTooManyConnections")
    app = run.send(45, source="datadog", asset_ref="acme-app-01", signature="HTTP 5xx error rate high")
    assert app.kind == "correlated" and app.incident_id == db.incident_id
    why = app.explanation
    assert why.rule == "topology"
    assert why.topology_path == ("acme-app-01", "depends_on", "acme-db-01")
    assert why.path_text == "acme-app-01 → depends_on → acme-db-01"
    assert why.root_cause == "acme-db-01"
    assert why.time_gap_seconds == 45.0
    assert "probable root cause acme-db-01" in app.reason
    assert why.as_dict()["topology_path_text"] == "acme-app-01 → depends_on → acme-db-01"


def test_topology_upstream_cause_arriving_later_joins_and_becomes_root_cause() -> None:
    run = Run()
    lb = run.send(0, asset_ref="acme-lb-01", signature="TargetResponseTime high")
    app = run.send(20, asset_ref="acme-app-01", signature="Service nginx is down")
    db = run.send(30, asset_ref="acme-db-01", signature="PostgresqlTooManyConnections")
    assert lb.incident_id == app.incident_id == db.incident_id
    assert run.incident(db).root == "db"
    assert db.explanation.root_cause == "acme-db-01"
    assert db.explanation.topology_path[0] == "acme-db-01"


def test_topology_siblings_join_only_through_their_common_upstream_cause() -> None:
    run = Run()
    a = run.send(0, asset_ref="acme-app-01", signature="Slow responses")
    b = run.send(30, asset_ref="acme-app-02", signature="Response time above 2s")
    assert a.incident_id != b.incident_id  # the same kind of effect on two siblings proves nothing by itself
    db = run.send(60, asset_ref="acme-db-01", signature="PostgresqlTooManyConnections")  # their common cause
    assert db.explanation.rule == "topology" and db.merged
    assert run.state.canonical(str(a.incident_id)) == run.state.canonical(str(b.incident_id)) == db.incident_id
    assert run.incident(db).root == "db"
    run = Run(policy=CorrelationPolicy(topology_siblings=False))
    a = run.send(0, asset_ref="acme-app-01", signature="Slow responses")
    b = run.send(30, asset_ref="acme-app-02", signature="Response time above 2s")
    db = run.send(60, asset_ref="acme-db-01", signature="PostgresqlTooManyConnections")
    assert db.incident_id == a.incident_id and not db.merged
    assert run.state.canonical(str(b.incident_id)) != db.incident_id


def test_topology_does_not_join_independent_symptoms_or_unlinked_assets_or_when_off() -> None:
    run = Run()
    db = run.send(0, asset_ref="acme-db-01", signature="Disk space is low on /")
    cert = run.send(10, asset_ref="acme-app-01", signature="SSL certificate expires soon")
    disk = run.send(20, asset_ref="acme-app-01", signature="Disk space is low on /")  # a cause, not an effect
    web = run.send(30, asset_ref="acme-web-01", signature="HTTP 5xx error rate high")  # not linked
    assert len({db.incident_id, cert.incident_id, disk.incident_id, web.incident_id}) == 4
    run = Run(policy=CorrelationPolicy(topology=False))
    a = run.send(0, asset_ref="acme-db-01", signature="PostgresqlTooManyConnections")
    b = run.send(10, asset_ref="acme-app-01", signature="HTTP 5xx error rate high")
    assert a.incident_id != b.incident_id


def test_topology_outside_the_window_opens_a_new_incident() -> None:
    run = Run(policy=CorrelationPolicy(window_minutes=5))
    a = run.send(0, asset_ref="acme-db-01", signature="PostgresqlTooManyConnections")
    b = run.send(6 * 60, asset_ref="acme-app-01", signature="HTTP 5xx error rate high")
    assert a.incident_id != b.incident_id


def test_a_storm_of_host_down_on_many_assets_is_one_incident() -> None:
    run = Run()
    decisions = [run.send(i * 10, source="nagios", asset_ref=f"192.0.2.{i}", signature="Host down") for i in range(6)]
    assert [d.kind for d in decisions[:2]] == ["new_incident", "new_incident"]
    third = decisions[2]
    assert third.kind == "correlated" and third.explanation.rule == "storm"
    assert third.merged == (decisions[1].incident_id,)
    assert third.incident_id == decisions[0].incident_id
    assert set(third.touched) == {decisions[0].incident_id, decisions[1].incident_id}
    assert all(d.incident_id == decisions[0].incident_id for d in decisions[3:])
    assert run.state.canonical(str(decisions[1].incident_id)) == decisions[0].incident_id
    incident = run.incident(decisions[-1])
    assert incident.storm and len(incident.storm_assets) == 6 and len(run.state.incidents) == 1
    assert "alert storm, 3 assets failing with host_down within 120 s" in third.reason


def test_two_hosts_down_are_not_a_storm_and_storms_need_the_window() -> None:
    run = Run()
    a = run.send(0, asset_ref="192.0.2.1", signature="Host down")
    b = run.send(10, asset_ref="192.0.2.2", signature="Host down")
    c = run.send(10 + 121, asset_ref="192.0.2.3", signature="Host down")
    assert len({a.incident_id, b.incident_id, c.incident_id}) == 3
    run = Run(policy=CorrelationPolicy(storm_min_assets=2))
    a = run.send(0, asset_ref="192.0.2.1", signature="Host down")
    b = run.send(10, asset_ref="192.0.2.2", signature="PING CRITICAL - Packet loss = 100%")
    assert a.incident_id == b.incident_id


def test_a_storm_keeps_chaining_while_failures_keep_coming() -> None:
    run = Run()
    ds = [run.send(i * 100, asset_ref=f"192.0.2.{i}", signature="Host down") for i in range(5)]
    assert len({d.incident_id for d in ds}) == 5  # a slow trickle (never 3 within 120 s) is not a storm
    run = Run()
    ds = [run.send(i * 5, asset_ref=f"192.0.2.{i}", signature="Host down") for i in range(3)]
    ds.append(run.send(100, asset_ref="192.0.2.50", signature="Host down"))
    ds.append(run.send(200, asset_ref="192.0.2.51", signature="Host down"))  # 100 s after the last storm event
    assert len({run.state.canonical(str(d.incident_id)) for d in ds}) == 1


def test_alerts_without_any_asset_group_by_signature_only() -> None:
    run = Run()
    a = run.send(0, source="grafana", signature="High memory usage", labels={"zone": "us-1"})
    b = run.send(10, source="grafana", signature="High memory usage", labels={"zone": "us-2"})
    c = run.send(20, source="grafana", signature="High CPU usage", labels={"zone": "eu-1"})
    assert a.incident_id == b.incident_id != c.incident_id
    assert a.asset.key == "" and a.explanation.key == "-|memory|high memory usage"


def test_still_firing_incidents_absorb_their_key_within_the_horizon() -> None:
    run = Run()
    a = run.send(0, source="generic", asset_ref="acme-db-01", signature="replication_lag")
    b = run.send(3 * 3600, source="nagios", asset_ref="acme-db-01", signature="MySQL replica lag")
    c = run.send(3 * 3600 + 4 * 3600 + 60, source="datadog", asset_ref="acme-db-01", signature="Replica lag high")
    assert a.incident_id == b.incident_id != c.incident_id


def test_event_time_is_used_and_never_later_than_arrival() -> None:
    run = Run()
    a = run.send(0, asset_ref="acme-db-01", signature="Disk space is low on /", occurred_at=T0 - timedelta(hours=1))
    assert a.at == T0 - timedelta(hours=1)
    assert a.priority is not None and a.priority.components[-1].points == -1  # an hour old on arrival
    run.send(10, asset_ref="acme-db-01", signature="Disk space is low on /", status="resolved",
             occurred_at=T0 - timedelta(minutes=59))
    b = run.send(20, asset_ref="acme-db-01", signature="Disk full", source="zabbix")
    assert b.kind == "new_incident"  # resolved 59 min before in event time: past the 30 min reopen window
    c = run.send(60, asset_ref="acme-web-01", signature="CPU high", occurred_at=T0 + timedelta(days=1))
    assert c.at == T0 + timedelta(seconds=60)


def test_never_crosses_companies() -> None:
    tenant = Tenant.build("acme")
    with pytest.raises(ValueError, match="never crosses companies"):
        correlate(alert(asset_ref="x"), TenantState("globex"), tenant=tenant, now=T0)
    with pytest.raises(ValueError, match="never crosses companies"):
        correlate(alert(asset_ref="x"), TenantState("acme"), tenant=tenant, now=T0, company_id="globex")
