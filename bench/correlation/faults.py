"""Fault injection: each fault becomes signals from 1-3 tools (firing, repeats, resolves) on the affected assets."""

from __future__ import annotations

import random
from collections.abc import Callable

from emit import supports
from model import Asset, Company, Signal

NOISE_CHECKS = ("ntp", "swap", "load", "inode", "procs")
# checks whose symptoms are related (the same symptom family must not overlap on one asset)
FAMILY = {"cpu": "cpu", "load": "cpu", "mem_high": "memory", "swap": "memory", "inode": "disk", "ntp": "ntp",
          "procs": "procs"}
# quiet time after a fault before a related one may hit the same asset: longer than a reopen window (30 min),
# so that reopening an incident on a recurrence is never counted against the engine
GAP = 2700.0
HOSTS = ("db", "app", "web", "k8s", "nas", "iis", "dc")  # servers (not firewall/switch)


class Builder:
    def __init__(self, rng: random.Random, horizon: float) -> None:
        self.rng = rng
        self.horizon = horizon
        self.signals: list[Signal] = []
        self.faults: list[dict[str, object]] = []
        self.noise_seq = 0
        self.busy: dict[tuple[str, ...], float] = {}  # (company, asset[, check]) -> busy until (no overlapping faults)

    def pick(self, comp: Company, t: float, *roles: str, families: tuple[str, ...] = ("*",)) -> Asset | None:
        """A random asset of these roles with none of ``families`` busy at ``t`` (None: skip this fault).

        ``*`` is held by a fault on the whole asset, ``down`` by host-down/partition on every affected asset and
        a symptom family (cpu, memory, disk, ...) by whatever reports it: related symptoms never overlap on
        one asset (the truth would be ambiguous), unrelated ones may (a certificate warning during a disk fill).
        """
        free = [a for a in (comp.by_role(*roles) if roles else comp.assets) if self.idle(comp, a, t, families)]
        return self.rng.choice(free) if free else None

    def idle(self, comp: Company, asset: Asset, t: float, families: tuple[str, ...] = ("*",)) -> bool:
        return all(self.busy.get((comp.slug, asset.name, f), -1.0) < t for f in families)

    def hold(self, comp: Company, assets: list[Asset], until: float, *families: str) -> None:
        for a in assets:
            for f in families or ("*",):
                key = (comp.slug, a.name, f)
                self.busy[key] = max(self.busy.get(key, -1.0), until + GAP)

    # -- primitives ---------------------------------------------------------------------------------------------
    def tools_for(self, asset: Asset, check: str, most: int = 3) -> list[str]:
        tools = [t for t in asset.tools if supports(t, check, asset)]
        self.rng.shuffle(tools)
        return tools[: self.rng.randint(1, max(1, min(most, len(tools))))] if tools else []

    def episode(self, comp: Company, asset: Asset, tool: str, check: str, level: str, start: float,
                end: float | None, fault: str | None, repeat: float | None = None, noise: str | None = None,
                detail: str = "") -> None:
        """A firing alert from ``start``, re-notified every ``repeat`` seconds, resolved at ``end``."""
        if start >= self.horizon:
            return
        add = self.signals.append
        add(Signal(start, comp.slug, asset, tool, check, "firing", level, fault, noise, detail))
        if repeat:
            t = start + repeat * self.rng.uniform(0.9, 1.1)
            stop = min(end if end is not None else self.horizon, self.horizon)
            while t < stop:
                add(Signal(t, comp.slug, asset, tool, check, "firing", level, fault, noise, detail))
                t += repeat * self.rng.uniform(0.9, 1.1)
        if end is not None and end < self.horizon:
            add(Signal(end, comp.slug, asset, tool, check, "resolved", level, fault, noise, detail))

    def report(self, comp: Company, asset: Asset, check: str, level: str, start: float, end: float | None,
               fault: str, most: int = 3, repeat: float | None = None, spread: float = 60.0) -> int:
        """The same symptom as 1..``most`` tools see it, each with its own detection delay."""
        tools = self.tools_for(asset, check, most)
        for tool in tools:
            delay = self.rng.uniform(0, spread)
            stop = None if end is None else end + self.rng.uniform(0, spread)
            self.episode(comp, asset, tool, check, level, start + delay, stop, fault, repeat)
        return len(tools)

    def new_fault(self, comp: Company, kind: str, asset: Asset, start: float) -> str:
        fid = f"{comp.slug}-f{len(self.faults) + 1:04d}-{kind}"
        self.faults.append({"id": fid, "company": comp.slug, "kind": kind, "asset": asset.name, "start": start})
        return fid

    # -- faults ---------------------------------------------------------------------------------------------------
    def disk_fill(self, comp: Company, t: float) -> None:
        asset = self.pick(comp, t, "db", "app", "web", "nas", "k8s", "iis", "dc", families=("*", "disk"))
        if asset is None:
            return
        f = self.new_fault(comp, "disk_fill", asset, t)
        warn_for = self.rng.uniform(1200, 3600)
        end = t + warn_for + self.rng.uniform(600, 2400)
        self.hold(comp, [asset], end, "*", "disk")
        self.report(comp, asset, "disk", "warning", t, end, f, most=2, repeat=self.rng.uniform(180, 600))
        self.report(comp, asset, "disk", "critical", t + warn_for, end, f, most=2, repeat=self.rng.uniform(180, 600))

    def host_down(self, comp: Company, t: float) -> None:
        asset = self.pick(comp, t, "db", "app", "web", "k8s", "nas", "iis", "dc")
        if asset is None:
            return
        f = self.new_fault(comp, "host_down", asset, t)
        end = t + self.rng.uniform(300, 1800)
        self.hold(comp, [asset, *comp.downstream(asset)], end, "*", "down")
        self.report(comp, asset, "host_down", "critical", t, end, f, spread=90, repeat=300)
        for dep in comp.downstream(asset)[:6]:
            self.report(comp, dep, "svc_down", "critical", t + self.rng.uniform(30, 120), end + 60, f, most=2,
                        repeat=300)

    def memory_leak(self, comp: Company, t: float) -> None:
        asset = self.pick(comp, t, "app", "k8s", "iis", families=("*", "memory"))
        if asset is None:
            return
        f = self.new_fault(comp, "memory_leak", asset, t)
        oom = t + self.rng.uniform(900, 2700)
        self.hold(comp, [asset], oom + 600, "*", "memory")
        self.report(comp, asset, "mem_high", "warning", t, oom + 90, f, most=2, repeat=self.rng.uniform(180, 600))
        self.report(comp, asset, "oom", "critical", oom, oom + self.rng.uniform(120, 420), f, most=2, spread=30)
        self.report(comp, asset, "svc_restart", "warning", oom + 20, oom + self.rng.uniform(300, 600), f, most=1,
                    spread=30)

    def db_overload(self, comp: Company, t: float) -> None:
        db = comp.by_role("db")[0]
        if not self.idle(comp, db, t):
            return
        f = self.new_fault(comp, "db_overload", db, t)
        end = t + self.rng.uniform(600, 1500)
        self.hold(comp, [db, *comp.downstream(db)], end)
        self.report(comp, db, "db_conn", "critical", t, end, f, repeat=300)
        self.report(comp, db, "db_slow", "warning", t + self.rng.uniform(0, 120), end, f, most=2)
        for dep in comp.downstream(db):
            if dep.role == "app":
                self.report(comp, dep, "latency", "warning", t + self.rng.uniform(30, 180), end, f, most=2,
                            repeat=600)
            elif dep.role == "web":
                self.report(comp, dep, "http_5xx", "critical", t + self.rng.uniform(60, 240), end, f, most=2,
                            repeat=300)

    def net_partition(self, comp: Company, t: float) -> None:
        sw = comp.by_role("switch")[0]
        if not self.idle(comp, sw, t):
            return
        f = self.new_fault(comp, "net_partition", sw, t)
        end = t + self.rng.uniform(180, 900)
        self.hold(comp, [sw, *comp.downstream(sw)], end, "*", "down")
        self.report(comp, sw, "host_down", "critical", t, end, f, spread=15, repeat=300)
        for dep in comp.downstream(sw):
            if self.rng.random() < 0.85:
                self.report(comp, dep, "host_down", "critical", t + self.rng.uniform(2, 25), end, f, most=2, spread=15,
                            repeat=300)

    def flapping(self, comp: Company, t: float) -> None:
        asset = self.pick(comp, t, "web", "iis", "app")
        if asset is None:
            return
        f = self.new_fault(comp, "flapping", asset, t)
        tools = self.tools_for(asset, "svc_down", 2)
        for _ in range(self.rng.randint(5, 12)):
            up = t + self.rng.uniform(60, 240)
            for tool in tools:
                self.episode(comp, asset, tool, "svc_down", "critical", t + self.rng.uniform(0, 20),
                             up + self.rng.uniform(0, 20), f)
            t = up + self.rng.uniform(60, 240)
        self.hold(comp, [asset], t)

    def transient(self, comp: Company, t: float) -> None:
        check = self.rng.choice(("cpu", "cpu", "mem_high"))
        asset = self.pick(comp, t, *HOSTS, families=(FAMILY[check], "down"))
        if asset is None:
            return
        f = self.new_fault(comp, "transient", asset, t)
        self.hold(comp, [asset], t + 60, FAMILY[check])
        for tool in self.tools_for(asset, check, 1):
            self.episode(comp, asset, tool, check, "warning", t, t + self.rng.uniform(15, 55), f)

    def deploy(self, comp: Company, t: float) -> None:
        app = self.pick(comp, t, "app", "iis")
        if app is None:
            return
        f = self.new_fault(comp, "deploy_errors", app, t)
        end = t + self.rng.uniform(180, 600)
        self.hold(comp, [app, *comp.dependents(app)[:2]], end)
        self.report(comp, app, "http_5xx", "critical", t, end, f, most=2, spread=40, repeat=120)
        for web in comp.dependents(app)[:2]:
            self.report(comp, web, "http_5xx", "critical", t + self.rng.uniform(10, 60), end, f, most=1, spread=30)

    def cert_expiry(self, comp: Company, t: float) -> None:
        asset = self.pick(comp, t, "web", "iis", families=("cert",))
        if asset is None:
            return
        f = self.new_fault(comp, "cert_expiry", asset, t)
        self.hold(comp, [asset], self.horizon, "cert")
        self.report(comp, asset, "cert", "warning", t, None, f, most=2, repeat=3600, spread=600)

    def backup_failure(self, comp: Company, t: float) -> None:
        asset = self.pick(comp, t, "nas", "db", "dc", families=("backup",))
        if asset is None:
            return
        f = self.new_fault(comp, "backup_failure", asset, t)
        end = t + self.rng.uniform(1800, 7200) if self.rng.random() < 0.5 else None
        self.hold(comp, [asset], self.horizon if end is None else end, "backup")
        self.report(comp, asset, "backup", "critical", t, end, f, most=2, spread=300)

    def noise(self, comp: Company, t: float) -> None:
        check = self.rng.choice(NOISE_CHECKS)
        asset = self.pick(comp, t, *HOSTS, families=(FAMILY[check], "down"))
        tools = self.tools_for(asset, check, 1) if asset else []
        if asset is None or not tools:
            return
        self.noise_seq += 1
        end = t + self.rng.expovariate(1 / 1800) if self.rng.random() < 0.85 else None
        self.hold(comp, [asset], self.horizon if end is None else end, FAMILY[check])
        repeat = self.rng.uniform(300, 1200) if self.rng.random() < 0.6 else None
        self.episode(comp, asset, tools[0], check, "warning", t, end, None, repeat,
                     noise=f"{comp.slug}-n{self.noise_seq:05d}")


# fault kind -> (builder method, occurrences per company per hour)
RATES: dict[str, tuple[Callable[[Builder, Company, float], None], float]] = {
    "disk_fill": (Builder.disk_fill, 0.6),
    "host_down": (Builder.host_down, 0.5),
    "memory_leak": (Builder.memory_leak, 0.5),
    "db_overload": (Builder.db_overload, 0.25),
    "net_partition": (Builder.net_partition, 0.08),
    "flapping": (Builder.flapping, 0.25),
    "transient": (Builder.transient, 1.5),
    "deploy_errors": (Builder.deploy, 0.35),
    "backup_failure": (Builder.backup_failure, 0.15),
    "noise": (Builder.noise, 12.0),
}


def simulate(rng: random.Random, companies: list[Company], hours: float, scale: float = 1.0) -> Builder:
    horizon = hours * 3600
    scale *= 2.0  # calibrated: 12 companies x 6 h ~ 15k alerts
    b = Builder(rng, horizon)
    for comp in companies:
        size = len(comp.assets) / 16  # bigger estates see more trouble
        events: list[tuple[float, int, Callable[[Builder, Company, float], None]]] = []
        for n, (method, rate) in enumerate(RATES.values()):
            t = rng.expovariate(rate * scale * size / 3600)
            while t < horizon:
                events.append((t, n, method))
                t += rng.expovariate(rate * scale * size / 3600)
        if rng.random() < 0.7:  # certificate warnings start whenever the checker first runs
            events.append((rng.uniform(0, min(horizon, 1800)), len(RATES), Builder.cert_expiry))
        for t, _, method in sorted(events, key=lambda e: e[:2]):  # in time order: busy assets are skipped
            method(b, comp, t)
    b.signals.sort(key=lambda s: s.t)
    return b
