"""Native webhook bodies of the storm's tools, shaped like the real senders' (see ``ingest/samples``).

Pure functions: every id, time and value is passed in, so a script built from a seed is reproducible.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: the endsAt of a firing Alertmanager/Grafana alert


def iso_ms(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _common(items: list[dict[str, Any]], key: str) -> dict[str, str]:
    """The labels (or annotations) every alert of a group shares, as Alertmanager computes them."""
    if not items:
        return {}
    first: dict[str, str] = items[0][key]
    return {k: v for k, v in first.items() if all(i[key].get(k) == v for i in items[1:])}


def am_alert(*, name: str, instance: str, job: str, severity: str, summary: str, description: str,
             fingerprint: str, starts: datetime, ends: datetime | None = None,
             labels: dict[str, str] | None = None, prometheus: str = "prometheus") -> dict[str, Any]:
    """One entry of an Alertmanager ``alerts[]`` (resolved when ``ends`` is given)."""
    all_labels = {"alertname": name, "instance": instance, "job": job, "severity": severity, **(labels or {})}
    return {
        "status": "resolved" if ends else "firing",
        "labels": all_labels,
        "annotations": {"summary": summary, "description": description},
        "startsAt": iso_ms(starts),
        "endsAt": iso_ms(ends) if ends else ZERO_TIME,
        "generatorURL": f"http://{prometheus}:9090/graph?g0.expr={name}&g0.tab=1",
        "fingerprint": fingerprint,
    }


def alertmanager(alerts: list[dict[str, Any]], *, receiver: str, external_url: str) -> dict[str, Any]:
    """An Alertmanager webhook notification (payload version 4) for one alert group."""
    common = _common(alerts, "labels")
    group = {"alertname": common["alertname"]} if "alertname" in common else {}
    return {
        "receiver": receiver,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": alerts,
        "groupLabels": group,
        "commonLabels": common,
        "commonAnnotations": _common(alerts, "annotations"),
        "externalURL": external_url,
        "version": "4",
        "groupKey": "{}:{" + ",".join(f'{k}="{v}"' for k, v in group.items()) + "}",
        "truncatedAlerts": 0,
    }


def grafana(alerts: list[dict[str, Any]], *, external_url: str, values: dict[str, float]) -> dict[str, Any]:
    """A Grafana Alerting webhook (``version`` 1): Alertmanager-style entries plus Grafana's extra fields."""
    entries = []
    for a in alerts:
        entry = dict(a)
        entry["generatorURL"] = f"{external_url}alerting/grafana/{a['fingerprint'][:9]}/view"
        entry["silenceURL"] = f"{external_url}alerting/silence/new?alertmanager=grafana&matchers=alertname%3D" + \
            a["labels"]["alertname"]
        entry["dashboardURL"] = f"{external_url}d/{a['fingerprint'][:9]}"
        entry["panelURL"] = f"{external_url}d/{a['fingerprint'][:9]}?viewPanel=2"
        entry["values"] = values
        entries.append(entry)
    body = alertmanager(entries, receiver="alertwhisperer", external_url=external_url)
    firing = sum(1 for a in alerts if a["status"] == "firing")
    state = "FIRING" if firing else "RESOLVED"
    labels = ", ".join(f"{k}={v}" for k, v in body["commonLabels"].items())
    body.update(version="1", orgId=1, title=f"[{state}:{firing or len(alerts)}] ({labels})",
                state="alerting" if firing else "ok",
                message="\n".join(f"**{state.title()}**\n\nValue: {values}\nLabels:\n" +
                                  "\n".join(f" - {k} = {v}" for k, v in a["labels"].items()) for a in alerts))
    return body


def zabbix(*, name: str, host: str, ip: str | None, event_id: str, trigger_id: str, severity: int, problem: bool,
           at: datetime, started: datetime, opdata: str, tags: str, url: str) -> dict[str, Any]:
    """The Zabbix webhook media type's parameters, macro-expanded (as our integration guide's script sends)."""
    names = ("Not classified", "Information", "Warning", "Average", "High", "Disaster")
    return {
        "alert_subject": f"{'Problem' if problem else 'Resolved'}: {name}",
        "alert_message": (f"Problem started at {started:%H:%M:%S} on {started:%Y.%m.%d}\nProblem name: {name}\n"
                          f"Host: {host}\nSeverity: {names[severity]}\nOperational data: {opdata}\n"
                          f"Original problem ID: {event_id}\n" if problem else
                          f"Problem has been resolved at {at:%H:%M:%S} on {at:%Y.%m.%d}\nProblem name: {name}\n"
                          f"Host: {host}\nOriginal problem ID: {event_id}\n"),
        "event_id": event_id, "event_name": name, "trigger_name": name, "trigger_id": trigger_id,
        "event_nseverity": str(severity), "event_severity": names[severity],
        "event_tags": tags, "host_name": host, "host_ip": ip or "",
        "event_date": f"{started:%Y.%m.%d}", "event_time": f"{started:%H:%M:%S}",
        "event_value": "1" if problem else "0", "event_update_status": "0",
        "event_recovery_date": f"{at:%Y.%m.%d}" if not problem else "{EVENT.RECOVERY.DATE}",
        "event_recovery_time": f"{at:%H:%M:%S}" if not problem else "{EVENT.RECOVERY.TIME}",
        "event_opdata": opdata, "event_ack_status": "No", "zabbix_url": url,
    }


def datadog(*, name: str, state: str, host: str, monitor_id: str, event_id: str, at: datetime, text: str,
            org: str) -> dict[str, Any]:
    """Datadog's default webhook template: the state is the title prefix, the monitor id is in the body's link."""
    ms = str(int(at.timestamp() * 1000))
    body = (f"%%%\n{text}\n\n@webhook-alertwhisperer\n\n- - -\n\n[[Monitor Status](https://app.datadoghq.com/"
            f"monitors/{monitor_id}?from_ts={int(ms) - 900_000}&to_ts={ms}&event_id={event_id})] · "
            f"[[Edit Monitor](https://app.datadoghq.com/monitors#{monitor_id}/edit)]\n%%%")
    return {"body": body, "last_updated": ms, "event_type": "query_alert_monitor",
            "title": f"[{state} on {{host:{host}}}] {name}", "date": ms, "org": {"id": "4711", "name": org},
            "id": event_id}


def uptime_kuma(*, monitor_id: int, name: str, kind: str, url: str, hostname: str | None, port: int | None,
                down: bool, at: datetime, msg: str, ping: int | None) -> dict[str, Any]:
    """An Uptime Kuma "Webhook" notification (JSON preset) for a monitor going down or up."""
    state = "🔴 Down" if down else "✅ Up"
    return {
        "heartbeat": {"monitorID": monitor_id, "status": 0 if down else 1,
                      "time": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d}",
                      "msg": msg, "ping": ping, "important": True, "duration": 20, "retries": 0,
                      "timezone": "UTC", "timezoneOffset": "+00:00",
                      "localDateTime": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")},
        "monitor": {"id": monitor_id, "name": name, "description": None, "pathName": name, "parent": None,
                    "url": url, "method": "GET", "hostname": hostname, "port": port, "type": kind,
                    "interval": 20, "retryInterval": 20, "maxretries": 0, "active": True, "tags": [],
                    "maintenance": False, "accepted_statuscodes": ["200-299"]},
        "msg": f"[{name}] [{state}] {msg}",
    }


def uptime_kuma_certificate(*, monitor_id: int, name: str, url: str, days: int) -> dict[str, Any]:
    """Uptime Kuma's certificate-expiry reminder (no heartbeat; the URL is in the message)."""
    return {"heartbeat": None,
            "monitor": {"id": monitor_id, "name": name, "url": url, "type": "http", "hostname": None,
                        "port": None, "active": True, "tags": []},
            "msg": f"[{name}][{url}] Certificate will be expired in {days} days"}


def nagios_host(*, host: str, alias: str, address: str, down: bool, at: datetime, problem_id: int,
                output: str) -> dict[str, Any]:
    """The Nagios notification command's macros for a host problem or recovery (JSON)."""
    return {"notification_type": "PROBLEM" if down else "RECOVERY", "host": host, "host_alias": alias,
            "address": address, "service": "", "state": "DOWN" if down else "UP", "output": output,
            "timestamp": int(at.timestamp()), "datetime": at.astimezone(UTC).strftime("%a %b %d %H:%M:%S UTC %Y"),
            "problem_id": problem_id if down else 0, "last_problem_id": problem_id if not down else problem_id - 1,
            "author": "", "comment": ""}
