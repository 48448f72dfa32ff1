"""Users and technicians: scoped listing and management. Every change is audited."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.models import AuthSession, Membership, User
from alertwhisperer.auth.passwords import check_password_policy, hash_password
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.auth.schemas import UserCreate, UserOut, UserUpdate
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Conflict, Forbidden, Invalid, NotFound
from alertwhisperer.tenants.models import Company


async def memberships(session: AsyncSession, user_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {u: [] for u in user_ids}
    if user_ids:
        rows = (await session.execute(
            select(Membership.user_id, Membership.company_id).where(Membership.user_id.in_(user_ids))
        )).all()
        for uid, cid in rows:
            out[uid].append(cid)
    return out


async def to_out(session: AsyncSession, users: list[User], actor: Principal | None = None) -> list[UserOut]:
    scope = await memberships(session, [u.id for u in users])
    return [UserOut(id=u.id, email=u.email, name=u.name, role=Role(u.role), is_active=u.is_active,
                    company_ids=sorted(c for c in scope[u.id] if actor is None or actor.sees_company(c)),
                    category=u.category, skills=list(u.skills or []),
                    max_concurrent_incidents=u.max_concurrent_incidents, on_leave=u.on_leave,
                    last_login_at=u.last_login_at, created_at=u.created_at) for u in users]


async def list_users(session: AsyncSession, *, actor: Principal, company_id: str | None = None,
                     role: Role | None = None) -> list[User]:
    actor.require_role(Role.MSP_ADMIN, Role.COMPANY_ADMIN, action="list users")
    stmt = select(User).order_by(User.name)
    if company_id is not None:
        actor.require_company(company_id)
        stmt = stmt.where(User.id.in_(select(Membership.user_id).where(Membership.company_id == company_id)))
    elif not actor.is_msp_admin:
        stmt = stmt.where(User.id.in_(
            select(Membership.user_id).where(Membership.company_id.in_(actor.company_ids))))
    if role is not None:
        stmt = stmt.where(User.role == role.value)
    return list((await session.execute(stmt)).scalars().all())


async def get_user(session: AsyncSession, *, actor: Principal, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    if user.id == actor.user_id or actor.is_msp_admin:
        return user
    if actor.role is Role.COMPANY_ADMIN:
        scope = (await memberships(session, [user.id]))[user.id]
        if any(actor.sees_company(c) for c in scope):
            return user
    raise NotFound("user not found")


async def _check_companies(session: AsyncSession, actor: Principal, company_ids: list[str]) -> None:
    for cid in company_ids:
        actor.require_company(cid)
    if company_ids:
        found = set((await session.execute(select(Company.id).where(Company.id.in_(company_ids)))).scalars())
        missing = [c for c in company_ids if c not in found]
        if missing:
            raise NotFound("company not found", details={"company_ids": missing})


def _check_role_grant(actor: Principal, role: Role) -> None:
    if actor.is_msp_admin:
        return
    if actor.role is Role.COMPANY_ADMIN and role is Role.TECHNICIAN:
        return
    raise Forbidden(f"your role ({actor.role.value}) may not manage {role.value} users")


async def create_user(session: AsyncSession, *, actor: Principal | None, settings: Settings, clock: Clock,
                      data: UserCreate) -> tuple[User, str | None]:
    """Create a user; returns the generated initial password when none was given (shown once)."""
    company_ids = sorted(set(data.company_ids))
    if actor is not None:
        actor.require_role(Role.MSP_ADMIN, Role.COMPANY_ADMIN, action="manage users")
        _check_role_grant(actor, data.role)
        await _check_companies(session, actor, company_ids)
    if data.role is not Role.MSP_ADMIN and not company_ids:
        raise Invalid(f"a {data.role.value} needs at least one company", field="company_ids")
    email = data.email.lower()
    if (await session.execute(select(User.id).where(User.email == email))).first():
        raise Conflict(f"a user with email {email} already exists", details={"field": "email"})
    generated = None
    password = data.password
    if not password:
        generated = password = secrets.token_urlsafe(15)
    check_password_policy(password, min_length=settings.password_min_length,
                          user_inputs=[email, data.name, *email.split("@")])
    now = clock.now()
    user = User(email=email, name=data.name, role=data.role.value, password_hash=hash_password(password),
                category=data.category, skills=sorted(set(data.skills)),
                max_concurrent_incidents=data.max_concurrent_incidents, created_at=now, updated_at=now,
                password_changed_at=now)
    session.add(user)
    await session.flush()
    for cid in company_ids:
        session.add(Membership(user_id=user.id, company_id=cid))
    await session.flush()
    await audit.record(session, clock=clock, actor=actor, action="user.created",
                       company_id=company_ids[0] if len(company_ids) == 1 else None, target_type="user",
                       target_id=user.id, details={"email": email, "role": data.role.value,
                                                   "company_ids": company_ids, "password_generated": bool(generated)})
    return user, generated


async def _msp_admin_count(session: AsyncSession) -> int:
    return int((await session.execute(
        select(func.count()).select_from(User).where(User.role == Role.MSP_ADMIN.value, User.is_active)
    )).scalar_one())


async def update_user(session: AsyncSession, *, actor: Principal, clock: Clock, user_id: str,
                      data: UserUpdate) -> User:
    user = await get_user(session, actor=actor, user_id=user_id)
    given = data.model_dump(exclude_unset=True)
    if user.id == actor.user_id and not actor.is_msp_admin:
        # Anyone may fix their own name; role, companies and skills are set by an administrator.
        if set(given) - {"name"}:
            raise Forbidden("you can change only your own name; ask an administrator for the rest")
    else:
        actor.require_role(Role.MSP_ADMIN, Role.COMPANY_ADMIN, action="manage users")
        _check_role_grant(actor, Role(user.role))
    changes: dict[str, Any] = {}
    if given.get("role") is not None and given["role"] != user.role:
        _check_role_grant(actor, Role(given["role"]))
        if user.role == Role.MSP_ADMIN.value and await _msp_admin_count(session) <= 1:
            raise Invalid("the last MSP admin cannot lose the role", field="role")
    if given.get("is_active") is False and user.id == actor.user_id:
        raise Invalid("you cannot deactivate yourself", field="is_active")
    if (given.get("is_active") is False and user.role == Role.MSP_ADMIN.value
            and await _msp_admin_count(session) <= 1):
        raise Invalid("the last MSP admin cannot be deactivated", field="is_active")
    for field in ("name", "role", "category", "max_concurrent_incidents", "on_leave", "is_active"):
        if field in given and given[field] is not None and given[field] != getattr(user, field):
            value = given[field].value if isinstance(given[field], Role) else given[field]
            changes[field] = {"from": getattr(user, field), "to": value}
            setattr(user, field, value)
    if "category" in given and given["category"] is None and user.category is not None:
        changes["category"] = {"from": user.category, "to": None}
        user.category = None
    if given.get("skills") is not None and sorted(set(given["skills"])) != sorted(user.skills or []):
        changes["skills"] = {"from": user.skills, "to": sorted(set(given["skills"]))}
        user.skills = sorted(set(given["skills"]))
    if given.get("company_ids") is not None:
        wanted = set(given["company_ids"])
        await _check_companies(session, actor, sorted(wanted))
        current = set((await memberships(session, [user.id]))[user.id])
        hidden = {c for c in current if not actor.sees_company(c)}  # memberships the actor cannot see stay
        new = wanted | hidden
        if user.role != Role.MSP_ADMIN.value and not new:
            raise Invalid("a user needs at least one company", field="company_ids")
        if new != current:
            await session.execute(delete(Membership).where(Membership.user_id == user.id))
            for cid in sorted(new):
                session.add(Membership(user_id=user.id, company_id=cid))
            changes["company_ids"] = {"from": sorted(current - hidden), "to": sorted(wanted)}
    if changes:
        user.updated_at = clock.now()
        if changes.get("is_active", {}).get("to") is False or "role" in changes:
            await session.execute(update(AuthSession).where(
                AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None)
            ).values(revoked_at=clock.now(), revoked_reason="user_changed"))
        action = "user.deactivated" if changes.get("is_active", {}).get("to") is False else "user.updated"
        await session.flush()
        await audit.record(session, clock=clock, actor=actor, action=action, target_type="user",
                           target_id=user.id, details={"email": user.email, "changes": changes})
    return user


async def set_password(session: AsyncSession, *, settings: Settings, clock: Clock, email: str,
                       password: str) -> User:
    """Operator path (CLI): set a user's password and revoke all of their sessions."""
    user = (await session.execute(select(User).where(User.email == email.lower()))).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user with email {email}")
    check_password_policy(password, min_length=settings.password_min_length, user_inputs=[user.email, user.name])
    user.password_hash = hash_password(password)
    user.password_changed_at = clock.now()
    await session.execute(update(AuthSession).where(AuthSession.user_id == user.id,
                                                    AuthSession.revoked_at.is_(None))
                          .values(revoked_at=clock.now(), revoked_reason="password_reset"))
    await audit.record(session, clock=clock, action="user.password_reset", target_type="user",
                       target_id=user.id, details={"email": user.email, "via": "cli"})
    return user
