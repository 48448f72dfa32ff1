"""Login and logout for the browser (httpOnly cookies; CSRF-protected logout)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alertwhisperer.auth import service as auth
from alertwhisperer.auth.cookies import clear_auth_cookies, set_auth_cookies
from alertwhisperer.deps import (
    ACCESS_COOKIE,
    ClockDep,
    ContextDep,
    CurrentUser,
    SessionDep,
    SettingsDep,
    commit,
)
from alertwhisperer.errors import Forbidden, Throttled, Unauthenticated
from alertwhisperer.web.errors import safe_next
from alertwhisperer.web.forms import Form
from alertwhisperer.web.templating import FLASH_COOKIE, bare, pop_flash, redirect

router = APIRouter()


def _cross_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    return bool(origin) and urlsplit(origin).netloc != request.headers.get("host", "")


@router.get("/login")
async def login_form(request: Request, db: SessionDep, settings: SettingsDep, clock: ClockDep) -> Response:
    target = safe_next(request.query_params.get("next"))
    token = request.cookies.get(ACCESS_COOKIE)
    if token:
        try:
            await auth.authenticate(db, settings=settings, clock=clock, access_token=token)
            return redirect(target)
        except Unauthenticated:
            pass
    flash_message = pop_flash(request)
    response = bare(request, "login.html", {"next": target, "email": "", "error": None, "flash": flash_message,
                                            "demo": settings.demo})
    if flash_message:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


@router.post("/login")
async def login_submit(request: Request, db: SessionDep, settings: SettingsDep, clock: ClockDep,
                       ctx: ContextDep) -> Response:
    if _cross_origin(request):
        raise Forbidden("cross-origin login refused")
    form = await Form.read(request)
    email, password = form.text("email"), form.raw("password")
    target = safe_next(form.text("next"))
    context = {"next": target, "email": email, "flash": None, "demo": settings.demo}
    if not email or not password:
        return bare(request, "login.html", {**context, "error": "Enter your email and password."},
                    status_code=422)
    try:
        issued = await auth.login(db, settings=settings, clock=clock, email=email, password=password,
                                  context=ctx, kind="browser")
    except Throttled as exc:
        response = bare(request, "login.html", {**context, "error": "Too many failed attempts. "
                                                f"Try again in {max(1, exc.retry_after // 60)} minute(s)."},
                        status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthenticated:
        return bare(request, "login.html", {**context, "error": "Wrong email or password."}, status_code=401)
    await commit(request, db)
    success = redirect(target)
    set_auth_cookies(success, issued, settings)
    return success


@router.post("/logout")
async def logout(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    await auth.logout(db, clock=clock, actor=user)
    await commit(request, db)
    response = redirect("/login", "You have been logged out.", "info")
    clear_auth_cookies(response)
    return response

