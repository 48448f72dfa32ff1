"""Browser session cookies: httpOnly access/refresh, a readable CSRF token, all SameSite."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alertwhisperer.auth.service import IssuedTokens
from alertwhisperer.auth.tokens import new_csrf_token
from alertwhisperer.config import Settings
from alertwhisperer.deps import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE

REFRESH_PATH = "/"


def cookie_specs(issued: IssuedTokens, settings: Settings, *, csrf: str | None) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = [dict(
        key=ACCESS_COOKIE, value=issued.access_token, httponly=True, samesite="lax",
        secure=settings.cookie_secure, path="/", max_age=settings.refresh_token_days * 86400)]
    if issued.refresh_token:
        specs.append(dict(key=REFRESH_COOKIE, value=issued.refresh_token, httponly=True, samesite="strict",
                          secure=settings.cookie_secure, path=REFRESH_PATH,
                          max_age=settings.refresh_token_days * 86400))
    if csrf:
        specs.append(dict(key=CSRF_COOKIE, value=csrf, httponly=False, samesite="strict",
                          secure=settings.cookie_secure, path="/", max_age=settings.refresh_token_days * 86400))
    return specs


def set_auth_cookies(response: Response, issued: IssuedTokens, settings: Settings) -> str:
    """Set the cookies of a fresh login; returns the new CSRF token."""
    csrf = new_csrf_token()
    for spec in cookie_specs(issued, settings, csrf=csrf):
        response.set_cookie(**spec)
    return csrf


def clear_auth_cookies(response: Response) -> None:
    for key in (ACCESS_COOKIE, CSRF_COOKIE):
        response.delete_cookie(key, path="/")
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH)


def _header(spec: dict[str, Any]) -> bytes:
    jar: SimpleCookie = SimpleCookie()
    jar[spec["key"]] = spec["value"]
    morsel = jar[spec["key"]]
    morsel["path"] = spec["path"]
    morsel["max-age"] = str(spec["max_age"])
    morsel["samesite"] = spec["samesite"]
    if spec["httponly"]:
        morsel["httponly"] = True
    if spec["secure"]:
        morsel["secure"] = True
    return morsel.OutputString().encode("latin-1")


class RefreshedCookiesMiddleware:
    """When a request silently refreshed its session, put the rotated cookies on whatever it answers."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                issued = scope.get("state", {}).get("issued_tokens")
                if issued is not None:
                    headers = list(message.get("headers", []))
                    for spec in cookie_specs(issued, self.settings, csrf=None):
                        headers.append((b"set-cookie", _header(spec)))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, wrapped)
