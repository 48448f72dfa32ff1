"""TENANTS.json into the replay's (empty) database, in bulk.

The importer (``tenants.importer``) upserts asset by asset, a dozen statements each with its audit entry: over a
second for a few hundred assets, longer than replaying thousands of alerts. Into an empty database the replay
creates the companies as the importer does (``create_company``, audited) and inserts their assets and
dependencies in two statements, with one audit entry per company. The file is validated by the importer's own
schema first; anything the bulk path would have to judge (a company that exists already, repeated slugs or asset
names, unknown or cyclic dependencies) goes through the importer, which answers with its own errors.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.clock import SystemClock
from alertwhisperer.db import new_id
from alertwhisperer.tenants import service as company_service
from alertwhisperer.tenants.assets import ASSET_FIELDS
from alertwhisperer.tenants.importer import ImportCompany, import_tenants, parse
from alertwhisperer.tenants.models import Asset, AssetDependency, Company
from alertwhisperer.tenants.schemas import CompanyCreate


def _acyclic(edges: dict[str, list[str]]) -> bool:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in edges:
        if root in state:
            continue
        stack = [(root, iter(edges[root]))]
        state[root] = 1
        while stack:
            node, todo = stack[-1]
            nxt = next(todo, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return False
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(edges[nxt])))
    return True


def _simple(companies: list[tuple[str, ImportCompany]]) -> bool:
    """Nothing for the importer to judge: unique slugs and asset names, known dependencies, no cycles."""
    if len({slug for slug, _ in companies}) != len(companies):
        return False
    for _, item in companies:
        names = [a.name for a in item.assets]
        if len(set(names)) != len(names):
            return False
        edges = {a.name: sorted(set(a.depends_on)) for a in item.assets}
        if any(d not in edges or d == name for name, deps in edges.items() for d in deps) or not _acyclic(edges):
            return False
    return True


async def import_for_replay(session: AsyncSession, data: Any) -> None:
    """Import ``data`` (the import format) in the caller's transaction."""
    clock = SystemClock()
    parsed = parse(data)
    companies = [(item.slug or company_service.slugify(item.name), item) for item in parsed.companies]
    if not companies:
        return
    existing = (await session.execute(select(Company.id).limit(1))).first()
    if existing is not None or not _simple(companies):
        await import_tenants(session, clock=clock, data=data)
        return
    assets: list[dict[str, Any]] = []
    dependencies: list[dict[str, Any]] = []
    for slug, item in companies:
        company, _ = await company_service.create_company(
            session, actor=None, clock=clock, data=CompanyCreate(name=item.name, slug=slug, timezone=item.timezone),
            audit_details={"via": "import"})
        now = clock.now()
        ids = {a.name: new_id() for a in item.assets}
        for a in item.assets:
            assets.append({"id": ids[a.name], "company_id": company.id, "created_at": now, "updated_at": now,
                           **a.model_dump(include=set(ASSET_FIELDS))})
            dependencies += [{"asset_id": ids[a.name], "depends_on_id": ids[d], "company_id": company.id}
                             for d in sorted(set(a.depends_on))]
        await audit.record(session, clock=clock, action="asset.imported", company_id=company.id,
                           target_type="company", target_id=company.id,
                           details={"via": "replay import", "assets": len(item.assets),
                                    "dependencies": sum(len(set(a.depends_on)) for a in item.assets)})
    for table, rows in ((Asset.__table__, assets), (AssetDependency.__table__, dependencies)):
        for start in range(0, len(rows), 2000):
            await session.execute(insert(table), rows[start:start + 2000])  # type: ignore[arg-type]
    await session.flush()
