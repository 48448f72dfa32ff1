"""Native payloads: signals -> deliveries in each tool's own format, naming and host reference.

References per tool (the same host under different names, as in real estates):
alertmanager ``instance`` = ``IP:port`` of the exporter (``fqdn:443`` for blackbox probes); zabbix host = the
visible name (or the FQDN, per company); datadog host = instance id on cloud hosts, else the short name;
nagios = short name; icinga = FQDN; cloudwatch = ``InstanceId`` dimension; generic = FQDN.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from model import Asset, Signal, stable_hex

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
WINDOWS = ("iis", "dc")

# tool -> check -> name, or (warning name, critical name). {n} = the tool's host reference.
NAMES: dict[str, dict[str, Any]] = {
    "alertmanager": {
        "host_down": "InstanceDown", "svc_down": "BlackboxProbeFailed",
        "disk": ("NodeFilesystemSpaceFillingUp", "NodeFilesystemAlmostOutOfSpace"),
        "mem_high": "NodeMemoryHighUtilization", "oom": "HostOomKillDetected", "svc_restart": "KubePodCrashLooping",
        "db_conn": "PostgresqlTooManyConnections", "db_slow": "PostgresqlSlowQueries",
        "latency": "HighRequestLatency", "http_5xx": "HighHttpErrorRate", "cpu": "HostHighCpuLoad",
        "cert": "BlackboxSslCertificateWillExpireSoon", "ntp": "NodeClockSkewDetected",
        "swap": "HostSwapIsFillingUp", "load": "NodeLoad15High", "inode": "NodeFilesystemFilesFillingUp",
    },
    "zabbix": {
        "host_down": "Unavailable by ICMP ping", "svc_down": "HTTP service is down on {n}",
        "disk": ("Free disk space is less than 20% on volume /", "Free disk space is less than 5% on volume /"),
        "mem_high": "High memory utilization (>90% for 5m)", "oom": "OOM killer invoked on {n}",
        "svc_restart": "Service app.service has been restarted (uptime < 10m)",
        "db_conn": "PostgreSQL: Too many connections (over 90% of max_connections)",
        "db_slow": "PostgreSQL: Too many slow queries (over 5 for 5m)",
        "latency": 'Web scenario "health": response time is too high (over 2s for 5m)',
        "http_5xx": 'Web scenario "health" failed: HTTP 500', "cpu": "High CPU utilization (over 90% for 5m)",
        "cert": "Cert: SSL certificate expires soon (less than 14 days)", "backup": "Backup job failed on {n}",
        "ntp": "System time is out of sync (diff with Zabbix server > 60s)",
        "swap": "High swap space usage (less than 50% free)",
        "load": "Load average is too high (per CPU load over 1.5 for 5m)",
        "inode": "Free inodes is less than 20% on volume /", "procs": "Too many processes running",
    },
    "datadog": {
        "host_down": "Host is not reporting", "svc_down": "HTTP check failed", "disk": "Disk space usage is high",
        "mem_high": "Memory usage is high", "oom": "OOM kill detected", "svc_restart": "Service restarted",
        "db_conn": "Postgres connections near max_connections", "db_slow": "Postgres slow queries",
        "latency": "High p99 latency", "http_5xx": "High 5xx error rate", "cpu": "CPU usage high",
        "cert": "SSL certificate expiring soon", "ntp": "NTP offset high", "swap": "Swap usage high",
        "load": "Load average high",
    },
    "nagios": {
        "host_down": None, "svc_down": "HTTP", "disk": "Disk /", "mem_high": "Memory", "svc_restart": "Procs app",
        "db_conn": "PGSQL connections", "db_slow": "PGSQL query time", "latency": "HTTP response time",
        "http_5xx": "HTTP", "cpu": "CPU Load", "cert": "SSL Certificate", "backup": "Backup",
        "ntp": "NTP Time", "swap": "Swap Usage", "procs": "Total Processes", "load": "Current Load",
    },
    "icinga": {
        "host_down": None, "svc_down": "http", "disk": "disk /", "mem_high": "mem", "svc_restart": "procs-app",
        "db_conn": "postgres-connections", "db_slow": "postgres-query-time", "latency": "http-response-time",
        "http_5xx": "http", "cpu": "load", "cert": "ssl-cert", "backup": "backup", "ntp": "ntp_time",
        "swap": "swap", "procs": "procs", "load": "load",
    },
    "cloudwatch": {
        "host_down": "StatusCheckFailed", "disk": "disk_used_percent", "mem_high": "mem_used_percent",
        "cpu": "CPUUtilization", "http_5xx": "HTTPCode_Target_5XX_Count", "latency": "TargetResponseTime",
    },
    "generic": {
        "host_down": "host_unreachable", "svc_down": "service_check_failed", "disk": "disk_space_low",
        "mem_high": "memory_high", "oom": "oom_kill", "db_conn": "db_connections_high", "http_5xx": "http_5xx_rate",
        "cert": "certificate_expiring", "backup": "backup_failed", "cpu": "cpu_high", "swap": "swap_high",
    },
}
# Windows hosts: Zabbix's Windows template and windows_exporter names
WINDOWS_NAMES: dict[str, dict[str, Any]] = {
    "zabbix": {"host_down": "Zabbix agent is not available (for 3m)",
               "disk": ("FS [C:]: Space is low (used > 80%, total 120GB)",
                        "FS [C:]: Space is critically low (used > 90%, total 120GB)"),
               "svc_down": 'Service "World Wide Web Publishing Service" (W3SVC) is not running '
                           '(startup type automatic)',
               "mem_high": "High memory utilization (>90% for 5m)"},
    "nagios": {"disk": "Drive C: Space", "svc_down": "W3SVC"},
    "alertmanager": {"disk": ("WindowsDiskSpaceLow", "WindowsDiskSpaceCritical"), "svc_down": "WindowsServiceDown"},
}
AM_PORT = {"db_conn": 9187, "db_slow": 9187, "latency": 8080, "http_5xx": 8080}
LEVEL_WORD = {"alertmanager": ("warning", "critical"), "nagios": ("WARNING", "CRITICAL"),
              "icinga": ("warning", "crit"), "generic": ("medium", "critical")}


def name_for(tool: str, check: str, asset: Asset, level: str) -> str | None:
    table = NAMES.get(tool, {})
    if asset.role in WINDOWS and check in WINDOWS_NAMES.get(tool, {}):
        table = WINDOWS_NAMES[tool]
    if check not in table:
        return None
    name = table[check]
    if isinstance(name, tuple):
        name = name[1] if level == "critical" else name[0]
    if name is None:  # host check of nagios/icinga
        return ""
    if tool == "alertmanager" and check == "svc_restart" and asset.role != "k8s":
        name = "HostSystemdServiceCrashed"
    return str(name)


def supports(tool: str, check: str, asset: Asset) -> bool:
    if tool == "cloudwatch" and not asset.instance_id:
        return False
    if tool in ("nagios", "icinga") and check == "oom":
        return False
    return name_for(tool, check, asset, "warning") is not None


@dataclass
class Delivery:
    received: float
    company: str
    source: str
    headers: dict[str, str]
    body: Any
    signals: list[Signal] = field(default_factory=list)

    def line(self) -> dict[str, Any]:
        return {"company": self.company, "source": self.source, "received_at": iso(self.received),
                "headers": self.headers, "body": self.body}


def iso(t: float, ms: bool = True) -> str:
    stamp = START + timedelta(seconds=t)
    text = stamp.isoformat(timespec="milliseconds" if ms else "seconds")
    return text.replace("+00:00", "Z")


class Emitter:
    def __init__(self, rng: random.Random, zabbix_fqdn: set[str]) -> None:
        self.rng = rng
        self.zabbix_fqdn = zabbix_fqdn  # companies whose Zabbix hosts are named by FQDN
        self.episodes: dict[str, int] = {}  # ident -> open problem/event id
        self.seq = 1000

    def episode_id(self, sig: Signal) -> tuple[int, bool]:
        """The problem id of the open episode of this alert (a new one when it was not open)."""
        key = f"{sig.ident}/{sig.level}"
        fresh = key not in self.episodes
        if fresh:
            self.seq += 1
            self.episodes[key] = self.seq
        pid = self.episodes[key]
        if sig.status == "resolved":
            del self.episodes[key]
        return pid, fresh

    def uid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    # -- per tool ------------------------------------------------------------------------------------------------
    def am_alert(self, sig: Signal) -> dict[str, Any]:
        a = sig.asset
        check = sig.check
        name = name_for("alertmanager", check, a, sig.level) or check
        if check in ("svc_down", "cert") and a.role not in WINDOWS:
            instance, job = f"{a.fqdn}:443", "blackbox"
        elif a.role in WINDOWS:
            instance, job = f"{a.ip}:9182", "windows"
        elif check in AM_PORT:
            instance, job = f"{a.ip}:{AM_PORT[check]}", "postgres" if check.startswith("db") else "app"
        else:
            instance, job = f"{a.ip}:9100", "node"
        labels = {"alertname": name, "instance": instance, "job": job,
                  "severity": LEVEL_WORD["alertmanager"][sig.level == "critical"]}
        if check == "disk":
            labels.update(device="/dev/sda1", mountpoint="/", fstype="ext4")
        if a.role == "k8s":
            labels["node"] = a.name
        fingerprint = stable_hex(json.dumps(labels, sort_keys=True) + sig.company)
        pid, _ = self.episode_id(sig)
        starts = iso(self.started.get(sig.ident, sig.t))
        if sig.status == "firing":
            self.started.setdefault(sig.ident, sig.t)
        else:
            self.started.pop(sig.ident, None)
        return {"status": sig.status, "labels": labels,
                "annotations": {"summary": f"{name} on {instance}", "description": sig.detail or f"{name} ({pid})"},
                "startsAt": starts, "endsAt": iso(sig.t) if sig.status == "resolved" else "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus.{sig.company}.internal:9090/graph?g0.expr={name}",
                "fingerprint": fingerprint}

    started: dict[str, float]

    def zabbix(self, sig: Signal) -> dict[str, Any]:
        a = sig.asset
        host = a.fqdn if sig.company in self.zabbix_fqdn else a.name
        name = (name_for("zabbix", sig.check, a, sig.level) or sig.check).replace("{n}", host)
        pid, _ = self.episode_id(sig)
        sev = ("4", "High") if sig.level == "critical" else ("2", "Warning")
        stamp = START + timedelta(seconds=sig.t)
        resolved = sig.status == "resolved"
        return {
            "alert_subject": f"{'Resolved' if resolved else 'Problem'}: {name}", "event_name": name,
            "trigger_name": name, "trigger_id": str(20000 + int(stable_hex(sig.ident + sig.level, 4), 16) % 9999),
            "event_id": str(pid), "event_nseverity": sev[0], "event_severity": sev[1],
            "event_tags": f"role:{a.role}, scope:{sig.check}", "host_name": host, "host_ip": a.ip,
            "event_date": stamp.strftime("%Y.%m.%d"), "event_time": stamp.strftime("%H:%M:%S"),
            "event_value": "0" if resolved else "1", "event_update_status": "0",
            "event_recovery_date": stamp.strftime("%Y.%m.%d") if resolved else "{EVENT.RECOVERY.DATE}",
            "event_recovery_time": stamp.strftime("%H:%M:%S") if resolved else "{EVENT.RECOVERY.TIME}",
            "alert_message": f"Problem name: {name}\nHost: {host}\n{sig.detail}",
            "zabbix_url": f"https://zabbix.{sig.company}.internal/",
        }

    def datadog(self, sig: Signal) -> dict[str, Any]:
        a = sig.asset
        host = a.instance_id or a.name
        name = name_for("datadog", sig.check, a, sig.level) or sig.check
        _, fresh = self.episode_id(sig)
        if sig.status == "resolved":
            state = "Recovered"
        elif sig.level == "warning":
            state = "Warn" if fresh else "Re-Warn"
        else:
            state = "Triggered" if fresh else "Re-Triggered"
        monitor = 10_000_000 + int(stable_hex(sig.company + name, 6), 16) % 89_999_999
        event_id = str(self.rng.getrandbits(62))
        ms = int((START + timedelta(seconds=sig.t)).timestamp() * 1000)
        text = (f"%%%\n{name} on host:{host}.\n\n@webhook-msp-intake\n\n- - -\n\n[[Monitor Status]"
                f"(https://app.datadoghq.com/monitors/{monitor}?event_id={event_id})]\n%%%")
        return {"body": text, "last_updated": str(ms), "event_type": "query_alert_monitor",
                "title": f"[{state} on {{host:{host}}}] {name}", "date": str(ms),
                "org": {"id": "4711", "name": sig.company}, "id": event_id}

    def nagios(self, sig: Signal, icinga: bool = False) -> dict[str, Any]:
        a = sig.asset
        host = a.fqdn if icinga else a.name
        service = name_for("icinga" if icinga else "nagios", sig.check, a, sig.level)
        pid, _ = self.episode_id(sig)
        resolved = sig.status == "resolved"
        when = START + timedelta(seconds=sig.t)
        if icinga:
            tags = {"host": host, **({"service": service} if service else {})}
            return {"contact": {"full_name": "MSP Intake", "addresses": [{"type": "webhook", "address": ""}]},
                    "object": {"name": f"{host}!{service}" if service else host,
                               "url": f"https://icinga.{sig.company}.internal/icingaweb2/icingadb/host?name={host}",
                               "tags": tags},
                    "incident": {"id": pid, "severity": "ok" if resolved else LEVEL_WORD["icinga"][
                        sig.level == "critical" or not service]},
                    "event": {"time": iso(sig.t), "message": sig.detail or f"{service or 'PING'} check"}}
        if service:
            state = "OK" if resolved else LEVEL_WORD["nagios"][sig.level == "critical"]
        else:
            state = "UP" if resolved else "DOWN"
        return {"notification_type": "RECOVERY" if resolved else "PROBLEM", "host": host,
                "host_alias": a.name.upper(), "address": a.ip, "service": service or "", "state": state,
                "output": sig.detail or f"{service or 'PING'} {state}", "timestamp": int(when.timestamp()),
                "datetime": when.strftime("%a %b %d %H:%M:%S UTC %Y"),
                "problem_id": 0 if resolved else pid, "last_problem_id": pid if resolved else pid - 1,
                "author": "", "comment": ""}

    def cloudwatch(self, sig: Signal, message_id: str) -> dict[str, Any]:
        a = sig.asset
        metric = name_for("cloudwatch", sig.check, a, sig.level) or sig.check
        alarm = f"{a.name}-{metric}-{'critical' if sig.level == 'critical' else 'high'}"
        arn = f"arn:aws:cloudwatch:eu-west-1:111111111118:alarm:{alarm}"
        resolved = sig.status == "resolved"
        stamp = (START + timedelta(seconds=sig.t)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        message = {
            "AlarmName": alarm, "AlarmDescription": f"severity: {'critical' if sig.level == 'critical' else 'warning'}",
            "AWSAccountId": "111111111118", "NewStateValue": "OK" if resolved else "ALARM",
            "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [95.0 (02/03/26 06:00:00)] was "
                              "greater than the threshold (90.0).",
            "StateChangeTime": stamp, "Region": "EU (Ireland)", "AlarmArn": arn,
            "OldStateValue": "ALARM" if resolved else "OK",
            "Trigger": {"MetricName": metric, "Namespace": "CWAgent" if metric.endswith("percent") else "AWS/EC2",
                        "StatisticType": "Statistic", "Statistic": "AVERAGE", "Unit": "Percent",
                        "Dimensions": [{"value": a.instance_id, "name": "InstanceId"}], "Period": 60,
                        "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 90.0,
                        "TreatMissingData": "missing", "EvaluateLowSampleCountPercentile": ""},
        }
        return {"Type": "Notification", "MessageId": message_id,
                "TopicArn": "arn:aws:sns:eu-west-1:111111111118:alerts",
                "Subject": f'{"OK" if resolved else "ALARM"}: "{alarm}" in EU (Ireland)',
                "Message": json.dumps(message), "Timestamp": iso(sig.t), "SignatureVersion": "1",
                "Signature": "EXAMPLE", "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/cert.pem",
                "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"}

    def generic(self, sig: Signal) -> dict[str, Any]:
        a = sig.asset
        name = name_for("generic", sig.check, a, sig.level) or sig.check
        return {"asset_name": a.fqdn, "signature": name,
                "severity": LEVEL_WORD["generic"][sig.level == "critical"],
                "message": sig.detail or f"{name} on {a.fqdn}",
                "tool_source": "veeam" if sig.check == "backup" else "custom-checks",
                "status": sig.status, "timestamp": iso(sig.t, ms=False), "external_id": f"{name}/{a.fqdn}"}

    # -- deliveries ---------------------------------------------------------------------------------------------
    def deliveries(self, signals: list[Signal], retry_rate: float) -> list[Delivery]:
        self.started = {}
        out: list[Delivery] = []
        am_groups: dict[tuple[str, str], Delivery] = {}
        for sig in signals:
            headers = {"Content-Type": "application/json", "X-Delivery-ID": self.uid()}
            delay = self.rng.uniform(0.5, 6)
            if sig.tool == "alertmanager":
                alert = self.am_alert(sig)
                key = (sig.company, alert["labels"]["alertname"])
                group = am_groups.get(key)
                if (group is not None and sig.t <= group.received  # within group_wait: same notification
                        and all(a["fingerprint"] != alert["fingerprint"] for a in group.body["alerts"])):
                    group.body["alerts"].append(alert)
                    group.signals.append(sig)
                    continue
                body: Any = {"receiver": "alertwhisperer", "status": "firing", "alerts": [alert],
                             "groupLabels": {"alertname": key[1]}, "commonLabels": {"alertname": key[1]},
                             "commonAnnotations": {}, "externalURL": f"http://alertmanager.{sig.company}.internal",
                             "version": "4", "groupKey": f'{{}}:{{alertname="{key[1]}"}}', "truncatedAlerts": 0}
                group = Delivery(sig.t + 30, sig.company, "alertmanager", headers, body, [sig])
                am_groups[key] = group
                out.append(group)
                continue
            if sig.tool == "cloudwatch":
                headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification",
                           "x-amz-sns-message-id": headers["X-Delivery-ID"], "X-Delivery-ID": headers["X-Delivery-ID"]}
                body = self.cloudwatch(sig, headers["X-Delivery-ID"])
            elif sig.tool == "zabbix":
                body = self.zabbix(sig)
            elif sig.tool == "datadog":
                body = self.datadog(sig)
            elif sig.tool in ("nagios", "icinga"):
                body = self.nagios(sig, icinga=sig.tool == "icinga")
            else:
                body = self.generic(sig)
            out.append(Delivery(sig.t + delay, sig.company, sig.tool, headers, body, [sig]))
        for d in out:  # the group's status is firing while any alert in it fires
            if d.source == "alertmanager" and all(a["status"] == "resolved" for a in d.body["alerts"]):
                d.body["status"] = "resolved"
        retries = [Delivery(d.received + self.rng.uniform(10, 120), d.company, d.source, dict(d.headers), d.body,
                            list(d.signals)) for d in out if self.rng.random() < retry_rate]
        out.extend(retries)
        out.sort(key=lambda d: d.received)
        return out
