"""Annotated dependency aliases shared by api.py and web modules."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth import service as auth
from alertwhisperer.auth.principal import Principal, RequestContext
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Forbidden, Unauthenticated
from alertwhisperer.realtime.hub import LocalHub, publish_pending

ACCESS_COOKIE = "aw_access"
REFRESH_COOKIE = "aw_refresh"
CSRF_COOKIE = "aw_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_hub(request: Request) -> LocalHub:
    hub: LocalHub = request.app.state.hub
    return hub


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


def request_context(request: Request) -> RequestContext:
    ua = request.headers.get("user-agent")
    return RequestContext(ip=request.client.host if request.client else None, user_agent=ua[:300] if ua else None)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
HubDep = Annotated[LocalHub, Depends(get_hub)]
SessionDep = Annotated[AsyncSession, Depends(get_db)]
ContextDep = Annotated[RequestContext, Depends(request_context)]


async def commit(request: Request, session: AsyncSession) -> None:
    """Commit, then publish the live events the transaction queued."""
    await session.commit()
    await publish_pending(session, request.app.state.hub)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True  # non-browser clients; the CSRF token still has to match
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def check_csrf(request: Request) -> None:
    """Double-submit token for cookie-authenticated unsafe requests, plus an Origin check."""
    if request.method in SAFE_METHODS:
        return
    if not _same_origin(request):
        raise Forbidden("cross-origin request refused")
    expected = request.cookies.get(CSRF_COOKIE)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        given = value if isinstance(value, str) else None
    if not expected or not given or not secrets.compare_digest(expected, given):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")


async def _principal_from_cookies(request: Request, session: AsyncSession, settings: Settings, clock: Clock,
                                  context: RequestContext) -> Principal:
    access = request.cookies.get(ACCESS_COOKIE)
    if access:
        try:
            return await auth.authenticate(session, settings=settings, clock=clock, access_token=access,
                                           context=context)
        except Unauthenticated:
            pass
    refresh_token = request.cookies.get(REFRESH_COOKIE)
    if not refresh_token:
        raise Unauthenticated("not logged in")
    issued = await auth.refresh(session, settings=settings, clock=clock, refresh_token=refresh_token,
                                context=context)
    await session.commit()
    request.state.issued_tokens = issued  # the cookie middleware sets them on the response
    return await auth.principal_for(session, issued.user, session_id=issued.session_id, context=context)


async def current_principal(request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep,
                            context: ContextDep) -> Principal:
    """Bearer token (API clients) or session cookies (browser, CSRF-checked on unsafe methods)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return await auth.authenticate(session, settings=settings, clock=clock,
                                       access_token=header[7:].strip(), context=context)
    if request.cookies.get(ACCESS_COOKIE) or request.cookies.get(REFRESH_COOKIE):
        await check_csrf(request)
        return await _principal_from_cookies(request, session, settings, clock, context)
    raise Unauthenticated("missing credentials: send 'Authorization: Bearer <token>' or log in")


CurrentUser = Annotated[Principal, Depends(current_principal)]
