"""Auth routes for API clients (Bearer tokens) and the browser (cookies)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from alertwhisperer.auth import service
from alertwhisperer.auth.cookies import clear_auth_cookies
from alertwhisperer.auth.schemas import LoginIn, PasswordChangeIn, RefreshIn, SessionOut, TokenPair, UserOut
from alertwhisperer.auth.users import to_out
from alertwhisperer.deps import ClockDep, ContextDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.errors import NotFound

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _pair(issued: service.IssuedTokens) -> TokenPair:
    return TokenPair(access_token=issued.access_token, expires_at=issued.access_expires_at,
                     refresh_token=issued.refresh_token, refresh_expires_at=issued.refresh_expires_at)


@router.post("/login", response_model=TokenPair)
async def login(body: LoginIn, request: Request, db: SessionDep, settings: SettingsDep, clock: ClockDep,
                ctx: ContextDep) -> TokenPair:
    issued = await service.login(db, settings=settings, clock=clock, email=body.email, password=body.password,
                                 context=ctx, kind="api")
    await commit(request, db)
    return _pair(issued)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshIn, request: Request, db: SessionDep, settings: SettingsDep, clock: ClockDep,
                  ctx: ContextDep) -> TokenPair:
    issued = await service.refresh(db, settings=settings, clock=clock, refresh_token=body.refresh_token,
                                   context=ctx)
    await commit(request, db)
    return _pair(issued)


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser, db: SessionDep) -> UserOut:
    from alertwhisperer.auth.models import User

    row = await db.get(User, user.user_id)
    if row is None:
        raise NotFound("user not found")
    return (await to_out(db, [row]))[0]


@router.post("/logout", status_code=204)
async def logout(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> JSONResponse:
    await service.logout(db, clock=clock, actor=user)
    await commit(request, db)
    response = JSONResponse(None, status_code=204)
    clear_auth_cookies(response)
    return response


@router.post("/logout-everywhere")
async def logout_everywhere(request: Request, user: CurrentUser, db: SessionDep,
                            clock: ClockDep) -> JSONResponse:
    count = await service.logout_everywhere(db, clock=clock, actor=user)
    await commit(request, db)
    response = JSONResponse({"sessions_revoked": count})
    clear_auth_cookies(response)
    return response


@router.post("/password")
async def change_password(body: PasswordChangeIn, request: Request, user: CurrentUser, db: SessionDep,
                          settings: SettingsDep, clock: ClockDep) -> dict[str, int]:
    count = await service.change_password(db, settings=settings, clock=clock, actor=user,
                                          current_password=body.current_password,
                                          new_password=body.new_password)
    await commit(request, db)
    return {"other_sessions_revoked": count}


@router.get("/sessions", response_model=list[SessionOut])
async def sessions(user: CurrentUser, db: SessionDep, clock: ClockDep) -> list[SessionOut]:
    rows = await service.list_sessions(db, clock=clock, actor=user)
    return [SessionOut(id=s.id, kind=s.kind, ip=s.ip, user_agent=s.user_agent, created_at=s.created_at,
                       last_used_at=s.last_used_at, expires_at=s.expires_at, current=s.id == user.session_id)
            for s in rows]


@router.delete("/sessions/{session_id}", status_code=204)
async def revoke_session(session_id: str, request: Request, user: CurrentUser, db: SessionDep,
                         clock: ClockDep) -> None:
    await service.revoke_session(db, clock=clock, actor=user, session_id=session_id)
    await commit(request, db)
