"""Assets of a company and their dependencies (a DAG: cycles are refused)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.errors import Conflict, Invalid, NotFound
from alertwhisperer.tenants.models import Asset, AssetDependency
from alertwhisperer.tenants.schemas import AssetCreate, AssetOut, AssetUpdate

ASSET_FIELDS = ("name", "type", "ip", "fqdn", "instance_id", "tags", "critical")


async def _dependency_map(session: AsyncSession, company_id: str) -> dict[str, set[str]]:
    rows = (await session.execute(
        select(AssetDependency.asset_id, AssetDependency.depends_on_id)
        .where(AssetDependency.company_id == company_id)
    )).all()
    graph: dict[str, set[str]] = {}
    for a, b in rows:
        graph.setdefault(a, set()).add(b)
    return graph


def _find_cycle(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start if one exists (iterative DFS)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


async def to_out(session: AsyncSession, assets: list[Asset]) -> list[AssetOut]:
    if not assets:
        return []
    ids = [a.id for a in assets]
    rows = (await session.execute(
        select(AssetDependency.asset_id, Asset.name)
        .join(Asset, Asset.id == AssetDependency.depends_on_id)
        .where(AssetDependency.asset_id.in_(ids))
    )).all()
    deps: dict[str, list[str]] = {}
    for asset_id, name in rows:
        deps.setdefault(asset_id, []).append(name)
    return [AssetOut(id=a.id, company_id=a.company_id, name=a.name, type=a.type, ip=a.ip, fqdn=a.fqdn,
                     instance_id=a.instance_id, tags=a.tags or {}, critical=a.critical,
                     discovered=a.discovered, depends_on=sorted(deps.get(a.id, [])), created_at=a.created_at)
            for a in assets]


async def list_assets(session: AsyncSession, *, actor: Principal, company_id: str) -> list[Asset]:
    actor.require_company(company_id)
    return list((await session.execute(
        select(Asset).where(Asset.company_id == company_id).order_by(Asset.name)
    )).scalars().all())


async def count_by_company(session: AsyncSession, *, company_ids: list[str]) -> dict[str, int]:
    """Asset counts for companies the caller already resolved within its scope (one grouped query)."""
    if not company_ids:
        return {}
    rows = (await session.execute(
        select(Asset.company_id, func.count()).where(Asset.company_id.in_(company_ids)).group_by(Asset.company_id)
    )).all()
    counts = dict.fromkeys(company_ids, 0)
    counts.update({cid: int(n) for cid, n in rows})
    return counts


async def get_asset(session: AsyncSession, *, actor: Principal, asset_id: str) -> Asset:
    asset = await session.get(Asset, asset_id)
    if asset is None or not actor.sees_company(asset.company_id):
        raise NotFound("asset not found")
    return asset


async def set_dependencies(session: AsyncSession, *, asset: Asset, names: list[str]) -> list[str]:
    """Replace the asset's upstream dependencies by name (same company only, no cycles)."""
    names = sorted(set(names))
    if asset.name in names:
        raise Invalid(f"asset {asset.name!r} cannot depend on itself", field="depends_on")
    found: dict[str, str] = {name: id_ for name, id_ in (await session.execute(
        select(Asset.name, Asset.id).where(Asset.company_id == asset.company_id, Asset.name.in_(names))
    )).all()} if names else {}
    missing = [n for n in names if n not in found]
    if missing:
        raise Invalid(f"unknown asset(s) in depends_on: {', '.join(missing)}", field="depends_on")
    graph = await _dependency_map(session, asset.company_id)
    graph[asset.id] = set(found.values())
    cycle = _find_cycle(graph, asset.id)
    if cycle:
        by_id: dict[str, str] = {id_: name for id_, name in (await session.execute(
            select(Asset.id, Asset.name).where(Asset.id.in_(cycle))
        )).all()}
        raise Invalid("dependency cycle: " + " -> ".join(by_id.get(i, i) for i in cycle), field="depends_on")
    await session.execute(delete(AssetDependency).where(AssetDependency.asset_id == asset.id))
    for dep_id in found.values():
        session.add(AssetDependency(asset_id=asset.id, depends_on_id=dep_id, company_id=asset.company_id))
    await session.flush()
    return names


async def _name_taken(session: AsyncSession, company_id: str, name: str, exclude: str | None) -> bool:
    stmt = select(Asset.id).where(Asset.company_id == company_id, Asset.name == name)
    if exclude:
        stmt = stmt.where(Asset.id != exclude)
    return (await session.execute(stmt)).first() is not None


async def create_asset(session: AsyncSession, *, actor: Principal | None, clock: Clock, company_id: str,
                       data: AssetCreate, audit_action: str = "asset.created") -> Asset:
    if actor is not None:
        actor.require_company_admin(company_id, "manage assets")
    if await _name_taken(session, company_id, data.name, None):
        raise Conflict(f"an asset named {data.name!r} already exists", details={"field": "name"})
    now = clock.now()
    asset = Asset(company_id=company_id, created_at=now, updated_at=now,
                  **data.model_dump(include=set(ASSET_FIELDS)))
    session.add(asset)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"an asset named {data.name!r} already exists") from exc
    deps = await set_dependencies(session, asset=asset, names=data.depends_on)
    await audit.record(session, clock=clock, actor=actor, action=audit_action, company_id=company_id,
                       target_type="asset", target_id=asset.id,
                       details={"name": asset.name, "type": asset.type, "depends_on": deps})
    return asset


async def update_asset(session: AsyncSession, *, actor: Principal | None, clock: Clock, asset: Asset,
                       data: AssetUpdate | AssetCreate) -> dict[str, Any]:
    """Apply the fields given; returns the changes (empty when nothing changed)."""
    if actor is not None:
        actor.require_company_admin(asset.company_id, "manage assets", what="asset")
    given = data.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    if (
        "name" in given
        and given["name"] != asset.name
        and await _name_taken(session, asset.company_id, given["name"], asset.id)
    ):
        raise Conflict(f"an asset named {given['name']!r} already exists", details={"field": "name"})
    for field in ASSET_FIELDS:
        if field in given and given[field] != getattr(asset, field):
            changes[field] = {"from": getattr(asset, field), "to": given[field]}
            setattr(asset, field, given[field])
    if "depends_on" in given and given["depends_on"] is not None:
        current = sorted(a.depends_on for a in await to_out(session, [asset]))
        wanted = sorted(set(given["depends_on"]))
        if current != wanted:
            await set_dependencies(session, asset=asset, names=wanted)
            changes["depends_on"] = {"from": current, "to": wanted}
    if changes:
        asset.updated_at = clock.now()
        if asset.discovered:
            asset.discovered = False
        await session.flush()
        await audit.record(session, clock=clock, actor=actor, action="asset.updated",
                           company_id=asset.company_id, target_type="asset", target_id=asset.id,
                           details={"name": asset.name, "changes": changes})
    return changes


async def delete_asset(session: AsyncSession, *, actor: Principal, clock: Clock, asset_id: str) -> None:
    asset = await get_asset(session, actor=actor, asset_id=asset_id)
    actor.require_company_admin(asset.company_id, "manage assets", what="asset")
    dependents = (await session.execute(
        select(Asset.name).join(AssetDependency, AssetDependency.asset_id == Asset.id)
        .where(AssetDependency.depends_on_id == asset.id)
    )).scalars().all()
    await audit.record(session, clock=clock, actor=actor, action="asset.deleted", company_id=asset.company_id,
                       target_type="asset", target_id=asset.id,
                       details={"name": asset.name, "dependents_unlinked": sorted(dependents)})
    await session.delete(asset)
    await session.flush()


