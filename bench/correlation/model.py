"""Scenario model: companies with topology, and a simulated stretch of operations with injected faults.

The model produces *signals*: one per alert a monitoring tool would send (firing, repeat or resolve), each
labelled with the fault it belongs to (or a noise id). ``emit.py`` turns signals into native deliveries.
All randomness comes from one ``random.Random(seed)``; no wall clock is read.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

INFRA_TOOLS = ("alertmanager", "zabbix", "nagios", "icinga")
EXTRA_TOOLS = ("datadog", "generic")
WORDS = ("acme", "globex", "initech", "umbrella", "hooli", "vandelay", "wonka", "stark", "tyrell", "cyberdyne",
         "soylent", "massive", "aperture", "wayne", "oscorp", "pied", "gringotts", "monarch", "nakatomi", "zorg")


@dataclass
class Asset:
    name: str
    type: str
    role: str  # fw, switch, db, app, web, k8s, nas, iis, dc
    ip: str
    fqdn: str
    instance_id: str | None = None
    critical: bool = False
    depends_on: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)  # tools monitoring this asset

    def export(self) -> dict[str, object]:
        return {"name": self.name, "type": self.type, "ip": self.ip, "fqdn": self.fqdn,
                "instance_id": self.instance_id, "critical": self.critical, "depends_on": self.depends_on,
                "tags": self.tags}


@dataclass
class Company:
    name: str
    slug: str
    index: int
    tools: list[str]
    assets: list[Asset]

    def by_role(self, *roles: str) -> list[Asset]:
        return [a for a in self.assets if a.role in roles]

    def dependents(self, asset: Asset) -> list[Asset]:
        return [a for a in self.assets if asset.name in a.depends_on]

    def downstream(self, asset: Asset) -> list[Asset]:
        """Every asset that depends on ``asset``, transitively (breadth first)."""
        seen: list[Asset] = []
        todo = [asset]
        while todo:
            for dep in self.dependents(todo.pop(0)):
                if dep not in seen:
                    seen.append(dep)
                    todo.append(dep)
        return seen

    def export(self) -> dict[str, object]:
        return {"name": self.name, "slug": self.slug, "assets": [a.export() for a in self.assets]}


@dataclass
class Signal:
    t: float  # event time, seconds from scenario start
    company: str
    asset: Asset
    tool: str
    check: str  # check key (see emit.CHECKS)
    status: str  # firing | resolved
    level: str  # warning | critical
    fault: str | None  # fault id, None for noise
    noise: str | None = None  # noise id (one per noise alert episode)
    detail: str = ""

    @property
    def ident(self) -> str:
        return f"{self.company}/{self.asset.name}/{self.tool}/{self.check}"


def hexid(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def stable_hex(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def build_companies(rng: random.Random, count: int) -> list[Company]:
    companies = []
    names = list(WORDS)
    rng.shuffle(names)
    for ci in range(count):
        word = names[ci % len(names)] + (str(ci // len(names)) if ci >= len(names) else "")
        slug = word
        domain = f"{word}.internal"
        net = f"10.{ci + 1}"
        cloud = rng.random() < 0.5
        infra = rng.sample(INFRA_TOOLS, 2)
        tools = [*infra, rng.choice(EXTRA_TOOLS)] + (["cloudwatch"] if cloud else [])
        assets: list[Asset] = []

        def add(name: str, typ: str, role: str, subnet: int, host: int, deps: list[str], crit: bool = False,
                cloud_host: bool = False, _assets: list[Asset] = assets, _net: str = net, _domain: str = domain,
                _tools: list[str] = tools, _infra: list[str] = infra) -> Asset:
            asset = Asset(name=name, type=typ, role=role, ip=f"{_net}.{subnet}.{host}", fqdn=f"{name}.{_domain}",
                          critical=crit, depends_on=deps, tags={"env": "prod", "role": role})
            if cloud_host:
                asset.instance_id = "i-0" + hexid(rng, 16)
                asset.type = "cloud"
            # every asset has one infrastructure tool; many a second; some the company's APM/extra tool
            monitored = [_infra[0]]
            if rng.random() < 0.6:
                monitored.append(_infra[1])
            extra = [t for t in _tools if t not in _infra and (t != "cloudwatch" or cloud_host)]
            for tool in extra:
                if rng.random() < (0.9 if tool == "cloudwatch" else 0.5):
                    monitored.append(tool)
            asset.tools = monitored
            _assets.append(asset)
            return asset

        fw = add("fw-01", "firewall", "fw", 0, 1, [], crit=True)
        sw = add("sw-core-01", "network", "switch", 0, 2, [fw.name], crit=True)
        dbs = [add(f"db-{i:02d}", "database", "db", 1, 10 + i, [sw.name], crit=True) for i in range(1, 3)]
        n_app = rng.randint(3, 6)
        apps = [add(f"app-{i:02d}", "application", "app", 2, 10 + i, [dbs[0].name], cloud_host=cloud)
                for i in range(1, n_app + 1)]
        n_web = rng.randint(2, 4)
        [add(f"web-{i:02d}", "server", "web", 3, 10 + i, [a.name for a in apps[:2]], crit=i == 1, cloud_host=cloud)
         for i in range(1, n_web + 1)]
        [add(f"k8s-node-{i:02d}", "container", "k8s", 4, 10 + i, [sw.name]) for i in range(1, rng.randint(4, 9))]
        add("nas-01", "storage", "nas", 5, 10, [sw.name], crit=True)
        add("dc-01", "windows", "dc", 6, 10, [sw.name], crit=True)
        add("win-iis-01", "windows", "iis", 6, 20, [dbs[1].name, "dc-01"])
        companies.append(Company(name=f"{word.capitalize()} Corp", slug=slug, index=ci, tools=tools, assets=assets))
    return companies
