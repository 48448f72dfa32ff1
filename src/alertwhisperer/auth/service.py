"""Login, token refresh with rotation and reuse detection, logout (one / everywhere), password change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.models import AuthSession, LoginFailure, Membership, RefreshToken, User
from alertwhisperer.auth.passwords import check_password_policy, dummy_hash, hash_password, verify_password
from alertwhisperer.auth.principal import Principal, RequestContext, Role
from alertwhisperer.auth.tokens import (
    TokenError,
    decode_access_token,
    hash_token,
    issue_access_token,
    new_refresh_token,
)
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Invalid, NotFound, Throttled, Unauthenticated

REUSE_GRACE = timedelta(seconds=10)
IP_FAILURE_FACTOR = 4


@dataclass(frozen=True)
class IssuedTokens:
    user: User
    session_id: str
    access_token: str
    access_expires_at: datetime
    refresh_token: str | None
    refresh_expires_at: datetime | None


async def principal_for(session: AsyncSession, user: User, *, session_id: str | None = None,
                        context: RequestContext | None = None) -> Principal:
    ids = (await session.execute(select(Membership.company_id).where(Membership.user_id == user.id))).scalars()
    return Principal(user_id=user.id, email=user.email, role=Role(user.role), company_ids=frozenset(ids),
                     session_id=session_id, ip=context.ip if context else None,
                     user_agent=context.user_agent if context else None)


async def _check_throttle(session: AsyncSession, settings: Settings, clock: Clock, email: str,
                          ip: str | None) -> None:
    window_start = clock.now() - timedelta(seconds=settings.login_failure_window_seconds)
    checks = [(LoginFailure.email == email, settings.login_max_failures)]
    if ip:
        checks.append((LoginFailure.ip == ip, settings.login_max_failures * IP_FAILURE_FACTOR))
    for condition, limit in checks:
        count, oldest = (await session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(condition, LoginFailure.at >= window_start)
        )).one()
        if count >= limit:
            oldest_at: datetime = oldest if oldest.tzinfo else oldest.replace(tzinfo=clock.now().tzinfo)
            retry = int((oldest_at - window_start).total_seconds()) + 1
            raise Throttled("too many failed logins; try again later", retry_after=max(retry, 1))


async def _issue(session: AsyncSession, settings: Settings, clock: Clock, *, user: User,
                 auth_session: AuthSession) -> IssuedTokens:
    now = clock.now()
    refresh = new_refresh_token()
    refresh_exp = now + timedelta(days=settings.refresh_token_days)
    session.add(RefreshToken(token_hash=hash_token(refresh), session_id=auth_session.id, issued_at=now,
                             expires_at=refresh_exp))
    auth_session.expires_at = refresh_exp
    auth_session.last_used_at = now
    access, access_exp = issue_access_token(secret=settings.secret(), user_id=user.id,
                                            session_id=auth_session.id, now=now,
                                            lifetime=timedelta(minutes=settings.access_token_minutes))
    await session.flush()
    return IssuedTokens(user, auth_session.id, access, access_exp, refresh, refresh_exp)


async def login(session: AsyncSession, *, settings: Settings, clock: Clock, email: str, password: str,
                context: RequestContext, kind: str = "api") -> IssuedTokens:
    """Check credentials. A failure is recorded and committed before Unauthenticated is raised."""
    email = email.strip().lower()
    await _check_throttle(session, settings, clock, email, context.ip)
    user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
    ok, upgraded = verify_password(password, user.password_hash if user else dummy_hash())
    if user is None or not ok or not user.is_active:
        reason = "unknown user" if user is None else ("inactive" if ok else "bad password")
        session.add(LoginFailure(email=email, ip=context.ip, at=clock.now()))
        await audit.record(session, clock=clock, action="auth.login_failed", context=context,
                           actor_email=email, target_type="user", target_id=user.id if user else None,
                           details={"reason": reason})
        await session.commit()
        raise Unauthenticated("wrong email or password")
    if upgraded:
        user.password_hash = upgraded
    user.last_login_at = clock.now()
    await session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    auth_session = AuthSession(user_id=user.id, kind=kind, ip=context.ip,
                               user_agent=(context.user_agent or "")[:300] or None, created_at=clock.now(),
                               expires_at=clock.now())
    session.add(auth_session)
    await session.flush()
    principal = await principal_for(session, user, session_id=auth_session.id, context=context)
    await audit.record(session, clock=clock, actor=principal, action="auth.login", target_type="user",
                       target_id=user.id, details={"kind": kind, "session_id": auth_session.id})
    return await _issue(session, settings, clock, user=user, auth_session=auth_session)


async def authenticate(session: AsyncSession, *, settings: Settings, clock: Clock, access_token: str,
                       context: RequestContext | None = None) -> Principal:
    """Principal for a valid access token whose login session is still live (revocation is immediate)."""
    try:
        claims = decode_access_token(access_token, secret=settings.secret(), now=clock.now())
    except TokenError as exc:
        raise Unauthenticated(str(exc)) from exc
    row = (await session.execute(
        select(User, AuthSession).join(AuthSession, AuthSession.user_id == User.id)
        .where(AuthSession.id == claims.session_id, User.id == claims.user_id)
    )).first()
    if row is None:
        raise Unauthenticated("session not found")
    user, auth_session = row
    if auth_session.revoked_at is not None or not user.is_active:
        raise Unauthenticated("session revoked")
    return await principal_for(session, user, session_id=auth_session.id, context=context)


async def refresh(session: AsyncSession, *, settings: Settings, clock: Clock, refresh_token: str,
                  context: RequestContext) -> IssuedTokens:
    now = clock.now()
    token = await session.get(RefreshToken, hash_token(refresh_token))
    if token is None:
        raise Unauthenticated("unknown refresh token")
    auth_session = await session.get(AuthSession, token.session_id)
    user = await session.get(User, auth_session.user_id) if auth_session else None
    if auth_session is None or user is None or auth_session.revoked_at is not None or not user.is_active:
        raise Unauthenticated("session revoked")
    if token.used_at is not None:
        if now - token.used_at <= REUSE_GRACE:
            # Two tabs refreshing at once: hand out an access token only, rotate nothing, revoke nothing.
            access, exp = issue_access_token(secret=settings.secret(), user_id=user.id,
                                             session_id=auth_session.id, now=now,
                                             lifetime=timedelta(minutes=settings.access_token_minutes))
            return IssuedTokens(user, auth_session.id, access, exp, None, None)
        auth_session.revoked_at = now
        auth_session.revoked_reason = "refresh_token_reuse"
        principal = await principal_for(session, user, session_id=auth_session.id, context=context)
        await audit.record(session, clock=clock, actor=principal, action="auth.refresh_reuse_detected",
                           target_type="session", target_id=auth_session.id,
                           details={"session_id": auth_session.id})
        await session.commit()
        raise Unauthenticated("refresh token was already used; the session has been revoked")
    if token.expires_at <= now:
        raise Unauthenticated("refresh token expired")
    token.used_at = now
    if context.ip:
        auth_session.ip = context.ip
    return await _issue(session, settings, clock, user=user, auth_session=auth_session)


async def _revoke(session: AsyncSession, now: datetime, reason: str, *conditions: object) -> int:
    result = await session.execute(
        update(AuthSession).where(AuthSession.revoked_at.is_(None), *conditions)  # type: ignore[arg-type]
        .values(revoked_at=now, revoked_reason=reason)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def logout(session: AsyncSession, *, clock: Clock, actor: Principal) -> None:
    if actor.session_id:
        await _revoke(session, clock.now(), "logout", AuthSession.id == actor.session_id)
    await audit.record(session, clock=clock, actor=actor, action="auth.logout", target_type="session",
                       target_id=actor.session_id)


async def logout_everywhere(session: AsyncSession, *, clock: Clock, actor: Principal) -> int:
    count = await _revoke(session, clock.now(), "logout_everywhere", AuthSession.user_id == actor.user_id)
    await audit.record(session, clock=clock, actor=actor, action="auth.logout_everywhere",
                       target_type="user", target_id=actor.user_id, details={"sessions_revoked": count})
    return count


async def revoke_session(session: AsyncSession, *, clock: Clock, actor: Principal, session_id: str) -> None:
    auth_session = await session.get(AuthSession, session_id)
    if auth_session is None or auth_session.user_id != actor.user_id:
        raise NotFound("session not found")
    await _revoke(session, clock.now(), "revoked_by_user", AuthSession.id == session_id)
    await audit.record(session, clock=clock, actor=actor, action="auth.session_revoked",
                       target_type="session", target_id=session_id)


async def list_sessions(session: AsyncSession, *, clock: Clock, actor: Principal) -> list[AuthSession]:
    return list((await session.execute(
        select(AuthSession).where(AuthSession.user_id == actor.user_id, AuthSession.revoked_at.is_(None),
                                  AuthSession.expires_at > clock.now())
        .order_by(AuthSession.last_used_at.desc())
    )).scalars().all())


async def change_password(session: AsyncSession, *, settings: Settings, clock: Clock, actor: Principal,
                          current_password: str, new_password: str) -> int:
    """Set a new password; every other session of the user is revoked. Returns how many."""
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound("user not found")
    ok, _ = verify_password(current_password, user.password_hash)
    if not ok:
        raise Invalid("current password is wrong", field="current_password")
    if new_password == current_password:
        raise Invalid("the new password must differ from the current one", field="new_password")
    try:
        check_password_policy(new_password, min_length=settings.password_min_length,
                              user_inputs=[user.email, user.name, *user.email.split("@")])
    except Invalid as exc:
        raise Invalid(exc.message, field="new_password") from exc
    user.password_hash = hash_password(new_password)
    user.password_changed_at = clock.now()
    others = [AuthSession.user_id == user.id]
    if actor.session_id:
        others.append(AuthSession.id != actor.session_id)
    count = await _revoke(session, clock.now(), "password_changed", *others)
    await audit.record(session, clock=clock, actor=actor, action="user.password_changed", target_type="user",
                       target_id=user.id, details={"other_sessions_revoked": count})
    return count
