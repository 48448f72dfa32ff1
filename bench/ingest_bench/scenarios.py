"""Request bodies for the three scenarios; every request is prebuilt bytes with unique content.

(a) ``generic``: one new alert per request, unique signature/message and X-Delivery-ID;
(b) ``alertmanager``: webhook v4 bodies of 50 new alerts with unique fingerprints and X-Delivery-ID;
(c) ``repeat``: the same generic alert with the same X-Delivery-ID every time (idempotent repeats).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ingest_bench.loadgen import RequestFactory

AM_BATCH = 50


@dataclass(frozen=True)
class Scenario:
    name: str
    source: str
    alerts_per_request: int
    repeat: bool  # every request is the same delivery
    make: RequestFactory
    prefix: str  # X-Delivery-ID prefix of this scenario's deliveries


def _request(host: str, port: int, path: str, key: str, delivery_id: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {key}\r\n"
            f"X-Delivery-ID: {delivery_id}\r\nContent-Type: application/json\r\nUser-Agent: aw-bench\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def generic(host: str, port: int, key: str, run: str) -> Scenario:
    prefix = f"bench-{run}-a-"
    hosts = [f"srv-app-{i:02d}" for i in range(40)]
    checks = ["cpu_high", "disk_full", "memory_pressure", "service_down", "latency_p99"]
    severities = ["critical", "high", "medium", "low", "info"]

    def make(n: int) -> bytes:
        body = json.dumps({
            "asset_name": hosts[n % 40], "signature": f"{checks[n % 5]}_{n}", "severity": severities[n % 5],
            "message": f"bench alert {run}/{n}: value {n % 97}% over threshold", "tool_source": "bench",
        }).encode()
        return _request(host, port, "/api/webhooks/generic", key, f"{prefix}{n}", body)

    return Scenario("a) generic, 1 alert/request", "generic", 1, False, make, prefix)


def alertmanager(host: str, port: int, key: str, run: str) -> Scenario:
    prefix = f"bench-{run}-b-"
    alert_tpl = (
        '{{"status":"firing","labels":{{"alertname":"ProbeFailure{i}","instance":"srv-{i}.example.org:9100",'
        '"job":"node","severity":"{sev}","bench":"{n}"}},"annotations":{{"summary":"Probe failure on '
        'srv-{i} (request {n})","description":"Instance srv-{i}.example.org:9100 has been down for over 5m."}},'
        '"startsAt":"2026-03-02T09:00:00.000Z","endsAt":"0001-01-01T00:00:00Z",'
        '"generatorURL":"http://prometheus.example.org:9090/graph?g0.expr=up+%3D%3D+0",'
        '"fingerprint":"{fp:016x}"}}'
    )
    severities = ["critical", "warning", "info"]

    def make(n: int) -> bytes:
        alerts = ",".join(alert_tpl.format(i=i, n=n, sev=severities[i % 3], fp=n * AM_BATCH + i)
                          for i in range(AM_BATCH))
        body = ('{"receiver":"aw","status":"firing","alerts":[' + alerts + '],"groupLabels":{"job":"node"},'
                '"commonLabels":{"job":"node"},"commonAnnotations":{},'
                '"externalURL":"http://alertmanager.example.org:9093","version":"4",'
                f'"groupKey":"{{}}:{{job=\\"node\\"}}/{n}","truncatedAlerts":0}}').encode()
        return _request(host, port, "/api/webhooks/alertmanager", key, f"{prefix}{n}", body)

    return Scenario(f"b) alertmanager, {AM_BATCH} alerts/request", "alertmanager", AM_BATCH, False, make, prefix)


def repeat(host: str, port: int, key: str, run: str) -> Scenario:
    prefix = f"bench-{run}-c-"
    body = json.dumps({"asset_name": "srv-app-01", "signature": "disk_full", "severity": "high",
                       "message": "disk 95% full", "tool_source": "bench"}).encode()
    data = _request(host, port, "/api/webhooks/generic", key, f"{prefix}same", body)

    def make(n: int) -> bytes:
        return data

    return Scenario("c) repeats of one delivery", "generic", 1, True, make, prefix)


def open_loop(host: str, port: int, key: str, run: str) -> Scenario:
    base = generic(host, port, key, run + "o")
    return Scenario("a) generic at a fixed rate (open loop)", "generic", 1, False, base.make, base.prefix)
