"""The signed-in user's profile: password change, active sessions, log out everywhere."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth import service as auth
from alertwhisperer.auth import users
from alertwhisperer.auth.cookies import clear_auth_cookies
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.errors import Invalid
from alertwhisperer.web.forms import Form, FormErrors, domain_errors
from alertwhisperer.web.templating import page, redirect

router = APIRouter()
MSG_CURRENT = "Enter your current password."
MSG_NEW = "Choose a new password."
MSG_MISMATCH = "The two new passwords do not match."


def _device(user_agent: str | None) -> str:
    ua = user_agent or ""
    browser = next((b for b in ("Edg", "Firefox", "Chrome", "Safari", "curl", "python-httpx") if b in ua), None)
    system = next((s for s in ("Windows", "Mac OS", "Android", "iPhone", "Linux") if s in ua), None)
    names = {"Edg": "Edge", "python-httpx": "API client", "Mac OS": "macOS"}
    parts = [names.get(x, x) for x in (browser, system) if x]
    return " on ".join(parts) if parts else (ua[:40] or "Unknown device")


async def _profile(request: Request, db: AsyncSession, user: Principal, clock: Clock, *,
                   errors: FormErrors | None = None, status_code: int = 200) -> Response:
    me = await users.get_user(db, actor=user, user_id=user.user_id)
    out = (await users.to_out(db, [me], user))[0]
    sessions = await auth.list_sessions(db, clock=clock, actor=user)
    rows: list[dict[str, Any]] = [{"id": s.id, "kind": s.kind, "ip": s.ip, "device": _device(s.user_agent),
                                   "user_agent": s.user_agent, "created_at": s.created_at,
                                   "last_used_at": s.last_used_at, "current": s.id == user.session_id}
                                  for s in sessions]
    return await page(request, db, user, "profile/index.html",
                      {"person": out, "sessions": rows, "errors": errors or {}},
                      status_code=status_code, section="profile")


@router.get("/profile")
async def profile(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    return await _profile(request, db, user, clock)


@router.post("/profile/password")
async def change_password(request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep,
                          clock: ClockDep) -> Response:
    form = await Form.read(request)
    current, new, confirm = form.raw("current_password"), form.raw("new_password"), form.raw("confirm_password")
    errors: FormErrors = {}
    if not current:
        errors["current_password"] = MSG_CURRENT
    if not new:
        errors["new_password"] = MSG_NEW
    elif new != confirm:
        errors["confirm_password"] = MSG_MISMATCH
    if errors:
        return await _profile(request, db, user, clock, errors=errors, status_code=422)
    try:
        count = await auth.change_password(db, settings=settings, clock=clock, actor=user,
                                           current_password=current, new_password=new)
    except Invalid as exc:
        await db.rollback()
        return await _profile(request, db, user, clock, errors=domain_errors(exc, default_field="new_password"),
                              status_code=422)
    await commit(request, db)
    others = f" {count} other session(s) were signed out." if count else ""
    return redirect("/profile", f"Password changed.{others}")


@router.post("/profile/sessions/{session_id}/revoke")
async def revoke_session(session_id: str, request: Request, user: CurrentUser, db: SessionDep,
                         clock: ClockDep) -> Response:
    await auth.revoke_session(db, clock=clock, actor=user, session_id=session_id)
    await commit(request, db)
    if session_id == user.session_id:
        response = redirect("/login", "You have been logged out.", "info")
        clear_auth_cookies(response)
        return response
    return redirect("/profile", "Session revoked.")


@router.post("/profile/logout-everywhere")
async def logout_everywhere(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    count = await auth.logout_everywhere(db, clock=clock, actor=user)
    await commit(request, db)
    response = redirect("/login", f"Logged out everywhere ({count} session(s) ended).", "info")
    clear_auth_cookies(response)
    return response
