"""Handcrafted and generated replay inputs (TENANTS.json and ALERTS.jsonl lines) in several tools' formats."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2024, 2, 1, 6, 15, tzinfo=UTC)

TENANTS: dict[str, Any] = {"companies": [
    {"name": "Acme", "slug": "acme", "assets": [
        {"name": "db-01", "type": "database", "ip": "10.1.0.5", "fqdn": "db-01.acme.internal", "critical": True},
        {"name": "app-01", "ip": "10.1.0.10", "depends_on": ["db-01"]},
        {"name": "web-01", "ip": "10.1.0.20"}]},
    {"name": "Beta", "slug": "beta", "assets": [{"name": "web-01", "ip": "10.2.0.20"}]},
]}


def iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def am(alertname: str, instance: str, *, status: str = "firing", fingerprint: str, at: float,
       severity: str = "critical") -> dict[str, Any]:
    item = {"status": status, "labels": {"alertname": alertname, "instance": instance, "severity": severity},
            "annotations": {"summary": f"{alertname} on {instance}"}, "startsAt": iso(at),
            "endsAt": iso(at + 60) if status == "resolved" else "0001-01-01T00:00:00Z", "fingerprint": fingerprint}
    return {"receiver": "msp", "status": status, "alerts": [item], "groupLabels": {"alertname": alertname},
            "commonLabels": item["labels"], "commonAnnotations": item["annotations"], "externalURL": "http://am",
            "version": "4", "groupKey": f"{{}}:{{alertname={alertname!r}}}", "truncatedAlerts": 0}


def zabbix(name: str, host: str, *, event_id: str, at: float, problem: bool = True) -> dict[str, Any]:
    when = T0 + timedelta(seconds=at)
    return {"alert_subject": f"{'Problem' if problem else 'Resolved'}: {name}", "event_name": name,
            "trigger_name": name, "trigger_id": "20456", "event_id": event_id, "event_nseverity": "4",
            "event_severity": "High", "event_tags": "scope:capacity", "host_name": host, "host_ip": "",
            "event_date": when.strftime("%Y.%m.%d"), "event_time": when.strftime("%H:%M:%S"),
            "event_opdata": "", "zabbix_url": "https://zabbix.example.com/", "alert_message": name,
            "event_value": "1" if problem else "0", "event_update_status": "0",
            "event_update_action": "{EVENT.UPDATE.ACTION}", "event_recovery_date": "{EVENT.RECOVERY.DATE}",
            "event_recovery_time": "{EVENT.RECOVERY.TIME}", "event_ack_status": "No"}


def datadog(title: str, host: str, *, event_id: str, at: float) -> dict[str, Any]:
    ms = str(int((T0 + timedelta(seconds=at)).timestamp() * 1000))
    return {"body": f"{title} on host:{host}", "last_updated": ms, "event_type": "query_alert_monitor",
            "title": f"[Triggered on {{host:{host}}}] {title}", "date": ms, "org": {"id": "1", "name": "Beta"},
            "id": event_id}


def line(company: str, source: str, at: float, body: Any, headers: dict[str, str] | None = None) -> str:
    item: dict[str, Any] = {"company": company, "source": source, "received_at": iso(at), "body": body}
    if headers is not None:
        item["headers"] = headers
    return json.dumps(item)


def handcrafted() -> list[str]:
    """Each line's expected first outcome is in ``EXPECTED``."""
    return [
        line("acme", "alertmanager", 0, am("NodeFilesystemAlmostOutOfSpace", "10.1.0.5:9100", fingerprint="f1", at=0),
             {"X-Delivery-ID": "del-1"}),                                                           # 0 new
        line("acme", "zabbix", 30, zabbix("Disk space is low on /", "DB-01", event_id="z1", at=30)),  # 1 joins
        line("acme", "alertmanager", 40, am("NodeFilesystemAlmostOutOfSpace", "10.1.0.5:9100", fingerprint="f1",
                                            at=0), {"X-Delivery-ID": "del-1"}),                     # 2 retried
        line("acme", "alertmanager", 60, am("NodeFilesystemAlmostOutOfSpace", "10.1.0.5:9100", fingerprint="f1",
                                            at=0)),                                                 # 3 repeat
        line("nobody", "alertmanager", 70, am("X", "h", fingerprint="x", at=70)),                  # 4 unknown co.
        line("acme", "grafana", 80, "this is not json"),                                           # 5 bad body
        line("acme", "no-such-tool", 90, {}),                                                      # 6 bad source
        line("beta", "datadog", 100, datadog("CPU usage high", "web-01", event_id="dd1", at=100)),  # 7 new (beta)
        line("acme", "alertmanager", 120, am("NodeFilesystemAlmostOutOfSpace", "10.1.0.5:9100", status="resolved",
                                             fingerprint="f1", at=0)),                              # 8 resolved
        line("acme", "alertmanager", 130, am("HostDown", "mystery-07:9100", fingerprint="f2", at=130)),  # 9 new
        "{broken json",                                                                            # 10 bad line
    ]


EXPECTED = {0: "new_incident", 1: "correlated", 2: "duplicate", 3: "duplicate", 4: "rejected", 5: "rejected",
            6: "rejected", 7: "new_incident", 8: "resolved", 9: "new_incident", 10: "rejected"}


def generated(count: int, *, seed: int = 7, companies: int = 5, hosts: int = 40) -> tuple[dict[str, Any], list[str]]:
    """A busy synthetic day: several companies, bursts of faults, repeats, resolves and retried deliveries."""
    rng = random.Random(seed)
    tenants = {"companies": [{"name": f"Company {c}", "slug": f"co{c}", "assets": [
        {"name": f"host-{h:03d}", "ip": f"10.{c}.{h // 250}.{h % 250 + 1}",
         **({"depends_on": [f"host-{h - h % 10:03d}"]} if h % 10 else {})} for h in range(hosts)]}
        for c in range(companies)]}
    signatures = ["NodeFilesystemAlmostOutOfSpace", "HighCPU", "HostDown", "MemoryPressure", "HTTP5xxRate",
                  "PostgresTooManyConnections", "TLSCertificateExpiring"]
    lines: list[str] = []
    at = 0.0
    firing: list[tuple[int, str, str, int]] = []
    while len(lines) < count:
        at += rng.expovariate(1 / 3.0)
        roll = rng.random()
        if firing and roll < 0.25:
            c, host, sig, fp = firing.pop(rng.randrange(len(firing)))
            body = am(sig, f"{host}:9100", status="resolved", fingerprint=f"{fp:x}", at=at)
            lines.append(line(f"co{c}", "alertmanager", at, body))
            continue
        if firing and roll < 0.55:
            c, host, sig, fp = rng.choice(firing)
            body = am(sig, f"{host}:9100", fingerprint=f"{fp:x}", at=at)
            lines.append(line(f"co{c}", "alertmanager", at, body, {"X-Delivery-ID": f"r{len(lines)}"}))
            if rng.random() < 0.1:  # a retried delivery
                lines.append(line(f"co{c}", "alertmanager", at + 1, body, {"X-Delivery-ID": f"r{len(lines) - 1}"}))
            continue
        c, h = rng.randrange(companies), rng.randrange(hosts)
        sig, host = rng.choice(signatures), f"host-{h:03d}"
        if rng.random() < 0.4:
            lines.append(line(f"co{c}", "zabbix", at, zabbix(f"{sig} on {host}", host, event_id=str(len(lines)),
                                                            at=at)))
            continue
        fp = rng.getrandbits(48)
        firing.append((c, host, sig, fp))
        lines.append(line(f"co{c}", "alertmanager", at, am(sig, f"{host}:9100", fingerprint=f"{fp:x}", at=at)))
    return tenants, lines[:count]


def write(tmp: Path, tenants: dict[str, Any], lines: list[str]) -> tuple[Path, Path]:
    alerts, tenants_path = tmp / "alerts.jsonl", tmp / "tenants.json"
    alerts.write_text("\n".join(lines) + "\n")
    tenants_path.write_text(json.dumps(tenants))
    return alerts, tenants_path
