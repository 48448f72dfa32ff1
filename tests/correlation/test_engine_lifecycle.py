"""correlate(): resolution with hold, reopen window, flapping, auto-pause, maintenance, manual close, prune."""

from __future__ import annotations

from datetime import timedelta

from alertwhisperer.correlation import CorrelationPolicy, MaintenanceWindow
from tests.correlation.helpers import T0, Run

DB_DISK = {"asset_ref": "acme-db-01", "signature": "Disk space is low on /"}


def test_incident_resolves_after_the_hold_once_all_its_alerts_are_resolved() -> None:
    run = Run()
    a = run.send(0, external_id="a", **DB_DISK)
    run.send(30, source="zabbix", external_id="b", **DB_DISK)
    r1 = run.send(600, external_id="a", status="resolved", **DB_DISK)
    assert (r1.kind, r1.outcome, r1.resolves_at) == ("resolved", "resolved", None)
    assert "1 of 2 alerts still firing" in r1.reason
    r2 = run.send(660, source="zabbix", external_id="b", status="resolved", asset_ref=None, signature="x")
    assert r2.kind == "resolved" and r2.incident_id == a.incident_id
    assert r2.asset.name == "acme-db-01" and r2.symptom == "disk"  # the alert's own asset, not the resolve's
    assert r2.resolves_at == T0 + timedelta(seconds=660, minutes=5)
    assert r2.time_to_resolve_seconds == 660 + 300
    assert not r2.incident_resolved
    incident = run.incident(a)
    assert incident.status_at(T0 + timedelta(seconds=661)) == "resolving"
    assert incident.status_at(T0 + timedelta(seconds=960)) == "resolved"
    again = run.send(700, source="zabbix", external_id="b", status="resolved", **DB_DISK)
    assert again.kind == "duplicate" and again.incident_id == a.incident_id


def test_a_zero_hold_resolves_at_once() -> None:
    run = Run(policy=CorrelationPolicy(resolve_hold_minutes=0))
    run.send(0, external_id="a", **DB_DISK)
    r = run.send(60, external_id="a", status="resolved", **DB_DISK)
    assert r.incident_resolved and r.resolves_at == T0 + timedelta(seconds=60)


def test_firing_during_the_hold_cancels_the_resolution() -> None:
    run = Run()
    a = run.send(0, external_id="a", **DB_DISK)
    run.send(60, external_id="a", status="resolved", **DB_DISK)
    back = run.send(120, external_id="a", **DB_DISK)
    assert (back.kind, back.incident_id, back.reopened) == ("correlated", a.incident_id, False)
    assert back.explanation.rule == "refire" and "resolution cancelled" in back.reason
    assert run.incident(a).resolve_at is None


def test_firing_within_the_reopen_window_reopens_and_after_it_opens_anew() -> None:
    run = Run()
    a = run.send(0, external_id="a", **DB_DISK)
    run.send(60, external_id="a", status="resolved", **DB_DISK)  # resolves at 360 s
    reopened = run.send(360 + 29 * 60, external_id="a", **DB_DISK)
    assert (reopened.kind, reopened.incident_id, reopened.reopened) == ("correlated", a.incident_id, True)
    assert reopened.explanation.rule == "reopen" and "incident reopened" in reopened.reason
    assert run.incident(a).reopen_count == 1
    run.send(4000, external_id="a", status="resolved", **DB_DISK)  # resolves at 4300 s
    other_tool = run.send(4300 + 10 * 60, source="zabbix", external_id="z", **DB_DISK)  # a new alert, same key
    assert (other_tool.kind, other_tool.incident_id, other_tool.reopened) == ("correlated", a.incident_id, True)
    assert other_tool.explanation.rule == "reopen"
    run.send(5000, external_id="a", status="resolved", **DB_DISK)
    run.send(5001, source="zabbix", external_id="z", status="resolved", **DB_DISK)  # resolves at 5301 s
    late = run.send(5301 + 31 * 60, external_id="a", **DB_DISK)
    assert late.kind == "new_incident" and late.incident_id != a.incident_id


def test_a_flapping_alert_keeps_one_incident() -> None:
    run = Run(policy=CorrelationPolicy(flap_changes=4, flap_minutes=30))
    decisions = []
    for i in range(6):
        decisions.append(run.send(i * 120, external_id="f", **DB_DISK))
        decisions.append(run.send(i * 120 + 60, external_id="f", status="resolved", **DB_DISK))
    assert len({d.incident_id for d in decisions}) == 1
    kinds = [d.kind for d in decisions]
    assert kinds[:4] == ["new_incident", "resolved", "correlated", "resolved"]
    assert kinds[4:] == ["flapping"] * 8  # the 5th change within 30 min marks it
    assert [d.outcome for d in decisions[4:6]] == ["duplicate", "resolved"]
    assert "is flapping (5 changes in 30 min)" in decisions[4].reason
    last = decisions[-1]
    assert last.resolves_at == last.at + timedelta(minutes=30)  # the hold stretches to the flap window
    assert run.incident(last).flapping


def test_auto_pause_marks_incidents_that_resolve_quickly_as_transient() -> None:
    run = Run(policy=CorrelationPolicy(transient_pause_minutes=5))
    new = run.send(0, external_id="t", **DB_DISK)
    assert new.notify_after == T0 + timedelta(minutes=5) and "auto-pause" in new.reason
    gone = run.send(120, external_id="t", status="resolved", **DB_DISK)
    assert gone.transient and "nobody is notified" in gone.reason
    late = run.send(1000, external_id="u", asset_ref="acme-web-01", signature="High CPU")
    run.send(1000 + 6 * 60, external_id="u", asset_ref="acme-web-01", signature="High CPU", status="resolved")
    assert not run.decisions[-1].transient and late.notify_after is not None


def test_maintenance_window_suppresses_new_alerts_on_the_asset() -> None:
    window = MaintenanceWindow(id="patching", name="Tuesday patching", assets=("acme-db-01",),
                               start=T0, end=T0 + timedelta(hours=1))
    run = Run(policy=CorrelationPolicy(maintenance_windows=(window,)))
    inside = run.send(60, external_id="m", **DB_DISK)
    assert (inside.kind, inside.incident_id, inside.suppressed_by) == ("suppressed", None, "maintenance:patching")
    assert inside.explanation.maintenance_window == "patching"
    assert "maintenance window Tuesday patching" in inside.reason
    repeat = run.send(120, external_id="m", **DB_DISK)
    assert repeat.kind == "suppressed"
    other = run.send(130, asset_ref="acme-web-01", signature="High CPU")
    assert other.kind == "new_incident"
    after = run.send(3700, external_id="m", **DB_DISK)  # still firing after the window: now it is an incident
    assert after.kind == "new_incident"
    quiet = run.send(200, external_id="q", asset_ref="acme-db-01", signature="High CPU")
    cleared = run.send(300, external_id="q", status="resolved", asset_ref="acme-db-01", signature="High CPU")
    assert quiet.kind == cleared.kind == "suppressed" and cleared.incident_id is None


def test_weekly_tag_window_suppresses_only_tagged_assets() -> None:
    window = MaintenanceWindow.model_validate({"id": "staging-nights", "tags": {"env": "staging"},
                                               "weekly": {"days": ["fri"], "start": "08:00", "duration_minutes": 120,
                                                          "timezone": "UTC"}})
    run = Run(policy=CorrelationPolicy(maintenance_windows=(window,)))  # T0 is Friday 2024-03-01 08:00 UTC
    assert run.send(60, asset_ref="acme-mail-01", signature="Disk full").kind == "suppressed"
    assert run.send(60, asset_ref="acme-web-01", signature="Disk full").kind == "new_incident"


def test_a_resolve_for_an_unknown_alert_is_suppressed() -> None:
    run = Run()
    orphan = run.send(0, external_id="never-fired", status="resolved", **DB_DISK)
    assert (orphan.kind, orphan.incident_id, orphan.suppressed_by) == ("suppressed", None, "orphan_resolve")
    assert not run.state.incidents and not run.state.alerts


def test_manual_close_then_firing_again_opens_a_new_incident_after_the_reopen_window() -> None:
    run = Run()
    a = run.send(0, external_id="a", **DB_DISK)
    run.state.close_incident(str(a.incident_id), T0 + timedelta(minutes=1))
    assert run.incident(a).status_at(T0 + timedelta(minutes=1)) == "resolved"
    b = run.send(60 + 31 * 60, external_id="a", **DB_DISK)
    assert b.kind == "new_incident"


def test_prune_forgets_long_resolved_incidents() -> None:
    run = Run()
    a = run.send(0, external_id="a", **DB_DISK)
    run.send(60, external_id="a", status="resolved", **DB_DISK)
    keep = timedelta(hours=1)
    assert run.state.prune(T0 + timedelta(minutes=30), keep=keep) == 0
    assert run.state.prune(T0 + timedelta(hours=2), keep=keep) == 1
    assert not run.state.incidents and not run.state.by_key and not run.state.by_asset and not run.state.alerts
    late = run.send(3 * 3600, external_id="a", status="resolved", **DB_DISK)
    assert late.kind == "suppressed"
    assert a.incident_id not in run.state.incidents
