"""Domain errors on console pages: a login redirect for 401, an error page (or an HTMX toast) otherwise."""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alertwhisperer.auth.cookies import clear_auth_cookies
from alertwhisperer.errors import DomainError, Unauthenticated

TITLES = {401: "Please log in", 403: "Not allowed", 404: "Not found", 409: "Conflict",
          422: "Please check your input", 429: "Slow down"}

_PAGE = Path(__file__).parent / "templates" / "error_static.html"
WEB_PACKAGE = __name__.rsplit(".", 1)[0]


def wants_html(request: Request) -> bool:
    """Errors raised by console pages answer in HTML; the API, the live channel and probes keep JSON."""
    endpoint = request.scope.get("endpoint")
    module = getattr(endpoint, "__module__", "") or ""
    return module == WEB_PACKAGE or module.startswith(WEB_PACKAGE + ".")


def safe_next(value: str | None) -> str:
    """A local path to return to after login; anything else (other hosts, schemes) becomes '/'."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(ch) < 32 for ch in value):
        return "/"
    return value


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.headers.get("hx-current-url") or "/"
    location = "/login"
    if safe_next(target) != "/":
        location += "?next=" + quote(safe_next(target), safe="/")
    response: Response
    if request.headers.get("hx-request"):
        response = Response(status_code=200, headers={"HX-Redirect": location})
    else:
        response = RedirectResponse(location, status_code=303)
    if request.cookies:
        clear_auth_cookies(response)
    return response


def html_error(request: Request, exc: DomainError) -> Response:
    if isinstance(exc, Unauthenticated):
        return login_redirect(request)
    title = TITLES.get(exc.status_code, "Something went wrong")
    if request.headers.get("hx-request"):
        fragment = (f'<div class="toast toast-error" role="alert"><strong>{escape(title)}</strong>'
                    f"<span>{escape(exc.message)}</span></div>")
        return HTMLResponse(fragment, status_code=200,
                            headers={"HX-Retarget": "#toasts", "HX-Reswap": "beforeend"})
    page = _PAGE.read_text(encoding="utf-8")
    body = (page.replace("{{status}}", str(exc.status_code)).replace("{{title}}", escape(title))
            .replace("{{message}}", escape(exc.message)))
    return HTMLResponse(body, status_code=exc.status_code)
