"""Companies: scoped reads, create/update/delete, API keys. Every change is audited."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.auth.tokens import hash_token, new_api_key
from alertwhisperer.clock import Clock
from alertwhisperer.errors import Conflict, Invalid, NotFound
from alertwhisperer.tenants.models import Company
from alertwhisperer.tenants.schemas import CompanyCreate, CompanyUpdate

API_KEY_PREFIX_LEN = 8


def slugify(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:63].strip("-")
    return slug or "company"


def _key_fields(key: str) -> dict[str, str]:
    return {"api_key_hash": hash_token(key), "api_key_prefix": key[: 3 + API_KEY_PREFIX_LEN]}


async def list_companies(session: AsyncSession, *, actor: Principal) -> list[Company]:
    stmt = select(Company).order_by(Company.name)
    if not actor.is_msp_admin:
        stmt = stmt.where(Company.id.in_(actor.company_ids))
    return list((await session.execute(stmt)).scalars().all())


async def get_company(session: AsyncSession, *, actor: Principal, company_id: str) -> Company:
    actor.require_company(company_id)
    company = await session.get(Company, company_id)
    if company is None:
        raise NotFound("company not found")
    return company


async def get_company_by_slug(session: AsyncSession, *, actor: Principal, slug: str) -> Company:
    company = (await session.execute(select(Company).where(Company.slug == slug))).scalar_one_or_none()
    if company is None or not actor.sees_company(company.id):
        raise NotFound("company not found")
    return company


async def company_for_api_key(session: AsyncSession, *, api_key: str) -> Company | None:
    """The company a webhook key belongs to, or None. Only the hash is compared (indexed lookup)."""
    if not api_key.startswith("aw_"):
        return None
    return (await session.execute(
        select(Company).where(Company.api_key_hash == hash_token(api_key))
    )).scalar_one_or_none()


async def _slug_taken(session: AsyncSession, slug: str) -> bool:
    return (await session.execute(select(Company.id).where(Company.slug == slug))).first() is not None


async def create_company(session: AsyncSession, *, actor: Principal | None, clock: Clock,
                         data: CompanyCreate, audit_details: dict[str, Any] | None = None,
                         ) -> tuple[Company, str]:
    """Create a company; returns it with its new API key (the only time the key exists in clear)."""
    if actor is not None:
        actor.require_role(Role.MSP_ADMIN, action="create companies")
    slug = data.slug or slugify(data.name)
    if await _slug_taken(session, slug):
        if data.slug:
            raise Conflict(f"a company with slug {slug!r} already exists", details={"field": "slug"})
        base, n = slug[:58], 2
        while await _slug_taken(session, f"{base}-{n}"):
            n += 1
        slug = f"{base}-{n}"
    key = new_api_key()
    now = clock.now()
    company = Company(name=data.name, slug=slug, timezone=data.timezone,
                      policy=data.policy.model_dump(mode="json"),
                      settings=data.settings.model_dump(mode="json"), api_key_rotated_at=now,
                      created_at=now, updated_at=now, **_key_fields(key))
    session.add(company)
    await session.flush()
    await audit.record(session, clock=clock, actor=actor, action="company.created", company_id=company.id,
                       target_type="company", target_id=company.id,
                       details={"name": company.name, "slug": slug, **(audit_details or {})})
    return company, key


async def update_company(session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str,
                         data: CompanyUpdate) -> Company:
    company = await get_company(session, actor=actor, company_id=company_id)
    actor.require_role(Role.MSP_ADMIN, Role.COMPANY_ADMIN, action="change company settings")
    changes: dict[str, Any] = {}
    for field in ("name", "timezone"):
        value = getattr(data, field)
        if value is not None and value != getattr(company, field):
            changes[field] = {"from": getattr(company, field), "to": value}
            setattr(company, field, value)
    for field in ("policy", "settings"):
        model = getattr(data, field)
        if model is not None:  # PATCH: the sections given replace theirs; the others are kept as stored
            dumped = model.model_dump(mode="json")
            stored = dict(getattr(company, field) or {})
            value = {k: dumped[k] if k in model.model_fields_set else stored.get(k, dumped[k])
                     for k in type(model).model_fields}
            if value != getattr(company, field):
                changes[field] = {"from": getattr(company, field), "to": value}
                setattr(company, field, value)
    if changes:
        company.updated_at = clock.now()
        action = "company.settings_changed" if {"policy", "settings"} & changes.keys() else "company.updated"
        await audit.record(session, clock=clock, actor=actor, action=action, company_id=company.id,
                           target_type="company", target_id=company.id, details={"changes": changes})
    await session.flush()
    return company


async def delete_company(session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str,
                         confirm_slug: str) -> None:
    company = await get_company(session, actor=actor, company_id=company_id)
    actor.require_role(Role.MSP_ADMIN, action="delete companies")
    if confirm_slug != company.slug:
        raise Invalid("type the company's slug to confirm deletion", field="confirm_slug")
    await audit.record(session, clock=clock, actor=actor, action="company.deleted", company_id=company.id,
                       target_type="company", target_id=company.id,
                       details={"name": company.name, "slug": company.slug})
    await session.delete(company)
    await session.flush()


async def regenerate_api_key(session: AsyncSession, *, actor: Principal | None, clock: Clock,
                             company_id: str) -> tuple[Company, str]:
    """New key; the old one stops working as soon as this commits."""
    if actor is not None:
        company = await get_company(session, actor=actor, company_id=company_id)
        actor.require_role(Role.MSP_ADMIN, action="regenerate API keys")
    else:
        found = await session.get(Company, company_id)
        if found is None:
            raise NotFound("company not found")
        company = found
    key = new_api_key()
    fields = _key_fields(key)
    company.api_key_hash = fields["api_key_hash"]
    company.api_key_prefix = fields["api_key_prefix"]
    company.api_key_rotated_at = clock.now()
    await audit.record(session, clock=clock, actor=actor, action="company.api_key_regenerated",
                       company_id=company.id, target_type="company", target_id=company.id,
                       details={"api_key_prefix": company.api_key_prefix})
    await session.flush()
    return company, key
