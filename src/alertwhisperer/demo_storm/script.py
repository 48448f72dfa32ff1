"""The storm script: a realistic burst of native deliveries from six tools, built from a company's real assets.

The story (nominal seconds out of 90, scaled to the requested duration, with a little seeded jitter):

* 0-9: the firewall's WAN link blips; hosts behind it go down within seconds (Zabbix, an Alertmanager group,
  Nagios, Uptime Kuma pings, Datadog) and come back.
* 11-27: the database's disk fills (Zabbix warning then high, Alertmanager warning then critical, one Alertmanager
  notification repeated); a CPU spike elsewhere comes and goes. 30: a certificate expiry warning (Uptime Kuma).
* 42-48: the full disk shows: slow queries (Grafana), the app behind it gets slow (Datadog, delivered twice: a
  sender retry), the web tier answers 5xx (Grafana). They start over 30 s after the blip cleared, so they join the
  disk's incident, not the blip's (a cause that cleared seconds ago still explains its dependents' symptoms).
* 50-65: a service flaps down/up three times (Uptime Kuma). 68-80: a re-notification, then the web errors, the
  latency and the slow queries resolve; the disk stays full (someone has to act).

Event times are the start time plus each step's offset, so played in real time they are "now". A storm much
shorter than 90 s compresses event time too, and correlation then (rightly) groups more of it together.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alertwhisperer.demo_storm import payloads as p
from alertwhisperer.demo_storm.roles import StormAsset, cast

NOMINAL_SECONDS = 90.0
JITTER = 0.3  # nominal seconds either way
USER_AGENTS = {"alertmanager": "Alertmanager/0.27.0", "grafana": "Grafana/11.3.0", "zabbix": "Zabbix/7.0",
               "datadog": "Datadog Webhooks", "uptime-kuma": "Uptime-Kuma/1.23.16", "nagios": "curl/8.5.0"}
TOOL_NAMES = {"alertmanager": "Alertmanager", "grafana": "Grafana", "zabbix": "Zabbix", "datadog": "Datadog",
              "uptime-kuma": "Uptime Kuma", "nagios": "Nagios"}


@dataclass(frozen=True)
class Step:
    """One delivery: when (seconds after the start), which tool, the exact bytes and headers it sends."""

    at: float
    source: str
    body: bytes
    headers: dict[str, str]
    title: str  # one line for progress output

    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class StormScript:
    company: str
    seed: int
    duration: float
    start: datetime
    steps: tuple[Step, ...] = field(default_factory=tuple)

    @property
    def sources(self) -> list[str]:
        return sorted({s.source for s in self.steps})


def _am_instance(a: StormAsset, port: int = 9100) -> str:
    return f"{a.ip or a.name}:{9182 if a.windows and port == 9100 else port}"


class _Story:
    def __init__(self, company: str, seed: int, duration: float, start: datetime) -> None:
        self.company, self.rng, self.start = company, random.Random(seed), start
        self.scale = duration / NOMINAL_SECONDS
        self.steps: list[tuple[float, int, Step]] = []

    def when(self, nominal: float) -> tuple[float, datetime]:
        at = max(0.0, (nominal + self.rng.uniform(-JITTER, JITTER)) * self.scale)
        return at, self.start + timedelta(seconds=at)

    def hex(self, n: int = 16) -> str:
        return f"{self.rng.getrandbits(n * 4):0{n}x}"

    def number(self, digits: int = 7) -> str:
        return str(self.rng.randrange(10 ** (digits - 1), 10 ** digits))

    def add(self, at: float, source: str, payload: dict[str, Any], title: str) -> Step:
        step = Step(at=round(at, 3), source=source, body=json.dumps(payload).encode(),
                    headers={"Content-Type": "application/json", "User-Agent": USER_AGENTS[source]},
                    title=f"{TOOL_NAMES[source]:<12} {title}")
        self.steps.append((step.at, len(self.steps), step))
        return step

    def again(self, nominal: float, step: Step, why: str) -> None:
        """The same bytes once more (a sender retry or a repeat notification)."""
        at, _ = self.when(nominal)
        at = max(at, step.at)
        self.steps.append((round(at, 3), len(self.steps), Step(round(at, 3), step.source, step.body,
                                                               dict(step.headers), f"{step.title} ({why})")))

    # -- tools -------------------------------------------------------------------------------------------------
    def zabbix(self, nominal: float, a: StormAsset, name: str, severity: int, opdata: str, tags: str,
               problem: tuple[str, datetime] | None = None) -> tuple[str, datetime]:
        """A problem (returns its event id and start) or, given one, its recovery."""
        at, now = self.when(nominal)
        event_id, started = problem or (self.number(), now)
        payload = p.zabbix(name=name, host=a.name, ip=a.ip, event_id=event_id, trigger_id=str(20000 + len(name)),
                           severity=severity, problem=problem is None, at=now, started=started, opdata=opdata,
                           tags=tags, url=f"https://zabbix.{self.company}.example/")
        self.add(at, "zabbix", payload, f"{a.name}: {'Problem' if problem is None else 'Resolved'}: {name}")
        return event_id, started

    def am(self, nominal: float, name: str, hosts: list[tuple[StormAsset, str]], *, job: str, severity: str,
           summary: Callable[[StormAsset], str], labels: dict[str, str] | None = None,
           firing: dict[str, tuple[str, datetime]] | None = None) -> tuple[Step, dict[str, tuple[str, datetime]]]:
        """One group notification for ``hosts`` (asset, instance); resolved when ``firing`` (from before) is given."""
        at, now = self.when(nominal)
        started = firing or {inst: (self.hex(), now) for _, inst in hosts}
        alerts = [p.am_alert(name=name, instance=inst, job=job, severity=severity, summary=summary(a),
                             description=f"{summary(a)} (instance {inst})", fingerprint=started[inst][0],
                             starts=started[inst][1], ends=now if firing else None, labels=labels,
                             prometheus=f"prometheus.{self.company}.example")
                  for a, inst in hosts]
        body = p.alertmanager(alerts, receiver="alertwhisperer", external_url=f"http://alertmanager.{self.company}"
                                                                                ".example:9093")
        names = ", ".join(a.name for a, _ in hosts)
        step = self.add(at, "alertmanager", body, f"{names}: {name} ({'resolved' if firing else severity})")
        return step, started

    def datadog(self, nominal: float, a: StormAsset, name: str, state: str, text: str, monitor: str) -> Step:
        at, now = self.when(nominal)
        host = a.instance_id or a.name
        payload = p.datadog(name=name, state=state, host=host, monitor_id=monitor, event_id=self.number(19),
                            at=now, text=text.replace("{host}", host), org=self.company)
        return self.add(at, "datadog", payload, f"{a.name}: [{state}] {name}")

    def grafana(self, nominal: float, a: StormAsset, name: str, instance: str, severity: str, summary: str,
                value: float, firing: tuple[str, datetime] | None = None) -> tuple[str, datetime]:
        at, now = self.when(nominal)
        fingerprint, started = firing or (self.hex(), now)
        alert = p.am_alert(name=name, instance=instance, job="grafana", severity=severity, summary=summary,
                           description=f"{summary} on {a.name}", fingerprint=fingerprint, starts=started,
                           ends=now if firing else None, labels={"grafana_folder": "Production"})
        body = p.grafana([alert], external_url=f"https://grafana.{self.company}.example/", values={"A": value})
        self.add(at, "grafana", body, f"{a.name}: {name} ({'resolved' if firing else severity})")
        return fingerprint, started

    def kuma(self, nominal: float, monitor_id: int, name: str, down: bool, *, kind: str, target: str,
             title: str) -> None:
        """An Uptime Kuma monitor: ``port`` (target host:port), ``ping`` (target host) or ``http`` (target URL)."""
        at, now = self.when(nominal)
        host, _, port = target.rpartition(":") if kind == "port" else (target, "", "")
        fail = {"port": f"connect ECONNREFUSED {target}", "ping": "Request timeout",
                "http": "Request failed with status code 503"}[kind]
        payload = p.uptime_kuma(
            monitor_id=monitor_id, name=name, kind=kind, url=target if kind == "http" else "https://",
            hostname=None if kind == "http" else host, port=int(port) if port else None, down=down, at=now,
            ping=None if down else self.rng.randrange(3, 40),
            msg=fail if down else "200 - OK" if kind == "http" else "")
        self.add(at, "uptime-kuma", payload, f"{title}: {'DOWN' if down else 'UP'} ({name})")

    def nagios(self, nominal: float, a: StormAsset, down: bool, pid: int) -> None:
        at, now = self.when(nominal)
        output = f"CRITICAL - {a.ip or a.name}: rta nan, lost 100%" if down else \
            f"OK - {a.ip or a.name}: rta 0.412ms, lost 0%"
        payload = p.nagios_host(host=a.name, alias=a.name.upper(), address=a.ip or a.name, down=down, at=now,
                                problem_id=pid, output=output)
        self.add(at, "nagios", payload, f"{a.name}: host {'DOWN' if down else 'UP'}")

    # -- the story ---------------------------------------------------------------------------------------------
    def blip(self, edge: StormAsset | None, hosts: tuple[StormAsset, ...]) -> None:
        """The edge's link drops; hosts behind it go down within seconds (plus unregistered endpoints, so that
        several go down even in a small estate: they show up as discovered assets) and come back."""
        link = "Interface Gi0/1(WAN): Link down"
        tags = "component:network, scope:availability"
        problem = self.zabbix(0, edge, link, 4, "Current state: down", tags) if edge else None
        targets = [(h, _am_instance(h)) for h in hosts]
        _, down = self.am(1.2, "InstanceDown", targets, job="node", severity="critical",
                          summary=lambda h: f"{h.name} is unreachable")
        pid = int(self.number(4))
        self.nagios(1.8, hosts[0], True, pid)
        second = hosts[1] if len(hosts) > 1 else None
        monitor = self.number(8)
        if second:
            self.datadog(2.6, second, "Host is not reporting", "Triggered", "{host} has not reported for 2 minutes.",
                         monitor)
        prefix = (edge or hosts[0]).name.split("-")[0]
        endpoints = [(int(self.number(3)), f"{prefix}-ws-{n:02d}") for n in range(1, max(0, 3 - len(hosts)) + 1)]
        for i, (mid, host) in enumerate(endpoints):
            self.kuma(2.2 + i * 0.4, mid, f"{host} ping", True, kind="ping", target=host, title=host)
        if edge and problem:
            self.zabbix(7.0, edge, link, 4, "Current state: up", tags, problem)
        self.am(7.6, "InstanceDown", targets, job="node", severity="critical",
                summary=lambda h: f"{h.name} is unreachable", firing=down)
        self.nagios(8.0, hosts[0], False, pid)
        for i, (mid, host) in enumerate(endpoints):
            self.kuma(8.2 + i * 0.3, mid, f"{host} ping", False, kind="ping", target=host, title=host)
        if second:
            self.datadog(8.6, second, "Host is not reporting", "Recovered", "{host} is reporting again.", monitor)

    def disk(self, db: StormAsset, app: StormAsset | None, web: StormAsset | None, spike: StormAsset) -> None:
        """The database's disk fills, queries slow down, the app gets slow and the web tier fails; a CPU spike
        elsewhere comes and goes. The effects recover at the end; the disk stays full."""
        volume = "D:" if db.windows else "/var/lib/" + ("mysql" if "mysql" in db.words else "postgresql")
        tags = "component:storage, scope:capacity"
        self.zabbix(11, db, f"Free disk space is less than 20% on volume {volume}", 2,
                    f"Space used: {self.rng.uniform(80.5, 84):.1f} % of 500 GB", tags)
        disk_labels = {"mountpoint": volume, "device": "/dev/sdb1", "fstype": "ext4"}
        filling, _ = self.am(13.5, "NodeFilesystemSpaceFillingUp", [(db, _am_instance(db))], job="node",
                             severity="warning", labels=disk_labels,
                             summary=lambda a: f"Filesystem {volume} on {a.name} will fill up within 4 hours")
        self.again(16, filling, "repeat notification")
        cpu_monitor = self.number(8)
        self.datadog(18, spike, "CPU usage high", "Warn", "CPU usage on host:{host} is above 85% for 5m.", cpu_monitor)
        self.zabbix(21, db, f"Free disk space is less than 5% on volume {volume}", 4,
                    f"Space used: {self.rng.uniform(95.2, 97.5):.1f} % of 500 GB", tags)
        self.am(22.5, "NodeFilesystemAlmostOutOfSpace", [(db, _am_instance(db))], job="node", severity="critical",
                labels=disk_labels, summary=lambda a: f"Filesystem {volume} on {a.name} has less than 5% space left")
        engine = "Mssql" if db.windows else "Mysql" if "mysql" in db.words else "Postgresql"
        slow_args = (db, f"{engine}SlowQueries", _am_instance(db, 1433 if db.windows else 9187), "warning",
                     f"{engine} is running slow queries (over 5 for 5m)")
        slow = self.grafana(42, *slow_args, 12.0)
        self.datadog(27, spike, "CPU usage high", "Recovered", "CPU usage on host:{host} is back to normal.",
                     cpu_monitor)
        latency = self.number(8)
        if app:
            first = self.datadog(44.5, app, "High p99 latency", "Triggered",
                                 "p99 latency of service:{host} is above 2s for 5m.", latency)
            self.again(45.7, first, "sender retry")
            self.datadog(68, app, "High p99 latency", "Re-Triggered",
                         "p99 latency of service:{host} is still above 2s.", latency)
            self.datadog(76, app, "High p99 latency", "Recovered", "p99 latency of service:{host} is normal.", latency)
        if web:
            errors_args = (web, "HighHttpErrorRate", f"{web.ip or web.name}:443", "critical",
                           "More than 5% of requests fail with HTTP 5xx")
            errors = self.grafana(48, *errors_args, 0.142)
            self.grafana(72, *errors_args, 0.004, firing=errors)
        self.grafana(80, *slow_args, 1.0, firing=slow)

    def certificate_and_flapping(self, cert: StormAsset, flappy: StormAsset) -> None:
        """An unrelated certificate warning, and a service flapping down/up three times."""
        days = self.rng.randrange(6, 13)
        url = f"https://{cert.host}/"
        payload = p.uptime_kuma_certificate(monitor_id=int(self.number(3)), name=f"{cert.name} TLS", url=url,
                                            days=days)
        self.add(self.when(30)[0], "uptime-kuma", payload, f"{cert.name}: certificate expires in {days} days")
        monitor = int(self.number(3))
        smb = any(w in flappy.words for w in ("nas", "smb", "storage", "backup", "file"))
        name = f"{flappy.name} SMB share" if smb else f"{flappy.name} website"
        target = f"{flappy.ip or flappy.host}:445" if smb else f"https://{flappy.host}/"
        for i, nominal in enumerate((50, 53, 56, 59, 62, 65)):
            self.kuma(nominal, monitor, name, i % 2 == 0, kind="port" if smb else "http", target=target,
                      title=flappy.name)


def build_storm(company: str, assets: list[StormAsset], *, seed: int, start: datetime,
                duration: float = NOMINAL_SECONDS) -> StormScript:
    """The script for one company: deterministic for (assets, seed, start, duration). Raises ``NoAssets``."""
    if duration <= 0:
        raise ValueError("duration must be positive")
    parts = cast(assets)
    story = _Story(company, seed, duration, start)
    story.blip(parts.edge, parts.blip)
    story.disk(parts.db, parts.app, parts.web, parts.spike)
    story.certificate_and_flapping(parts.cert, parts.flappy)
    steps = tuple(step for _, _, step in sorted(story.steps, key=lambda s: (s[0], s[1])))
    return StormScript(company=company, seed=seed, duration=duration, start=start, steps=steps)
