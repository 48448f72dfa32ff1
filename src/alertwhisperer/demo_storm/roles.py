"""Which of a company's real assets play which part in the storm, from their type, tags and depends_on.

Any company with at least one asset gets a full cast: parts fall back to other assets (in the end all to the one
asset there is), so the script never needs a particular topology; with the demo companies' topology
(firewall -> database -> app -> web) every part lands where it tells the best story.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.tenants.models import Asset, AssetDependency

EDGE_TYPES = frozenset({"firewall", "network", "loadbalancer"})
EDGE_WORDS = ("firewall", "fw", "switch", "router", "gateway", "sw-core", "core")
DB_WORDS = ("postgres", "mysql", "mariadb", "mssql", "sql", "oracle", "mongo", "redis", "database", "db")
COMPUTE_TYPES = ("server", "application", "windows", "container", "cloud")
FLAPPY_WORDS = ("backup", "nas", "smb", "share", "storage", "file")


@dataclass(frozen=True)
class StormAsset:
    """What the storm needs to know about one asset (plain values, so scripts are built without a database)."""

    name: str
    type: str = "server"
    ip: str | None = None
    fqdn: str | None = None
    instance_id: str | None = None
    critical: bool = False
    depends_on: tuple[str, ...] = ()  # names of upstream assets
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def words(self) -> str:
        """Name, type and tag values in lower case, for guessing what an asset is."""
        return " ".join([self.name, self.type, *self.tags.values()]).lower()

    @property
    def host(self) -> str:
        """How a web check addresses it."""
        return self.fqdn or self.name

    @property
    def windows(self) -> bool:
        return self.type == "windows" or any(w in self.words for w in ("mssql", "iis", "windows"))


@dataclass(frozen=True)
class Cast:
    """The storm's parts. ``app`` and ``web`` are None when nothing depends on the database (or the app)."""

    db: StormAsset  # its disk fills up; slow queries
    app: StormAsset | None  # depends on db: latency
    web: StormAsset | None  # depends on app (else app): HTTP errors
    edge: StormAsset | None  # its link blips
    blip: tuple[StormAsset, ...]  # real hosts down for a few seconds (behind the edge)
    spike: StormAsset  # a transient CPU spike
    flappy: StormAsset  # a flapping service
    cert: StormAsset  # a certificate about to expire


class NoAssets(ValueError):
    """The company has no assets to play a storm on."""


async def load_assets(session: AsyncSession, company_id: str) -> list[StormAsset]:
    """The company's own assets (not discovered ones) with their dependencies by name."""
    rows = list((await session.execute(
        select(Asset).where(Asset.company_id == company_id, Asset.discovered.is_(False)).order_by(Asset.name)
    )).scalars())
    names = {a.id: a.name for a in rows}
    deps: dict[str, list[str]] = {}
    for asset_id, upstream in (await session.execute(
            select(AssetDependency.asset_id, AssetDependency.depends_on_id)
            .where(AssetDependency.company_id == company_id))).all():
        if upstream in names:
            deps.setdefault(asset_id, []).append(names[upstream])
    return [StormAsset(name=a.name, type=a.type, ip=a.ip, fqdn=a.fqdn, instance_id=a.instance_id,
                       critical=a.critical, depends_on=tuple(sorted(deps.get(a.id, []))), tags=dict(a.tags or {}))
            for a in rows]


def _dependents(assets: Iterable[StormAsset]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in assets:
        for up in a.depends_on:
            out.setdefault(up, []).append(a.name)
    return out


def downstream(name: str, dependents: dict[str, list[str]]) -> list[str]:
    """Every asset that depends on ``name`` directly or through others, nearest first."""
    seen: list[str] = []
    frontier = [name]
    while frontier:
        nxt = sorted({d for n in frontier for d in dependents.get(n, []) if d not in seen and d != name})
        seen += nxt
        frontier = nxt
    return seen


def cast(assets: list[StormAsset]) -> Cast:
    if not assets:
        raise NoAssets("the company has no assets: add some (or import them) before playing a storm")
    by_name = {a.name: a for a in sorted(assets, key=lambda a: a.name)}
    dependents = _dependents(by_name.values())

    def reach(a: StormAsset) -> int:
        return len(downstream(a.name, dependents))

    def best(candidates: Iterable[StormAsset], score: tuple[str, ...] = ()) -> StormAsset | None:
        ranked = sorted(candidates, key=lambda a: (
            -next((len(score) - i for i, w in enumerate(score) if w in a.words), 0), -reach(a), not a.critical,
            a.name))
        return ranked[0] if ranked else None

    everyone = list(by_name.values())
    edges = [a for a in everyone if a.type in EDGE_TYPES or any(w in a.name.lower() for w in EDGE_WORDS)]
    edge = best(edges) if len(everyone) > 1 else None
    inner = [a for a in everyone if a is not edge]
    db = best([a for a in inner if a.type == "database"]) or best(
        [a for a in inner if any(w in a.words for w in DB_WORDS)], DB_WORDS) or best(inner) or everyone[0]
    app = best([by_name[n] for n in dependents.get(db.name, []) if by_name[n] is not edge], COMPUTE_TYPES)
    web = best([by_name[n] for n in dependents.get(app.name, [])], ("nginx", "iis", "web", "apache")) \
        if app else None
    chain = {db.name, *(a.name for a in (app, web) if a)}
    spare = [a for a in inner if a.name not in chain]
    flappy = best(spare, FLAPPY_WORDS) or web or app or db
    spike = best([a for a in spare if a is not flappy], COMPUTE_TYPES) or edge or app or db
    # hosts that go down in the blip: behind the edge, but not the ones that show the database's effects later or
    # flap (a host that was down minutes ago explains its own errors, so they would rightly join the blip)
    busy = {a.name for a in (app, web, flappy) if a and a is not db}
    behind = downstream(edge.name, dependents) if edge else [a.name for a in inner]
    blip = tuple(by_name[n] for n in behind if n not in busy)[:4] or (db,)
    return Cast(db=db, app=app, web=web or app, edge=edge, blip=blip, spike=spike, flappy=flappy,
                cert=web or app or db)
