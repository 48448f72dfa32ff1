"""Jinja2 environment, the shared page context (user, companies, switcher, CSRF, flash) and render helpers."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer import __version__
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal
from alertwhisperer.deps import CSRF_COOKIE
from alertwhisperer.tenants import service as tenants
from alertwhisperer.tenants.models import Company

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
FLASH_COOKIE = "aw_flash"
COMPANY_COOKIE = "aw_company"
ALL_COMPANIES = "all"

templates = Jinja2Templates(directory=str(HERE / "templates"))


def _asset_version() -> str:
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".css", ".js"):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _fmt_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(fmt) + " UTC"


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _role_label(value: str) -> str:
    return {"msp_admin": "MSP admin", "company_admin": "Company admin", "technician": "Technician"}.get(
        value, value)


def _short(value: object) -> str:
    text = str(value)
    if len(text) == 32 and all(c in "0123456789abcdef" for c in text):
        return text[:8] + "…"  # an id
    return text if len(text) <= 60 else text[:57] + "…"


def _audit_summary(details: dict[str, Any] | None, names: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Audit details as short key/value pairs for the table (the export has them in full)."""
    out: list[tuple[str, str]] = []
    for key, value in (details or {}).items():
        if key in ("name", "email"):
            continue
        if key == "company_ids" and isinstance(value, list) and names:
            value = [names.get(str(v), v) for v in value]
        if isinstance(value, dict):
            text = ", ".join(value) if key == "changes" else ", ".join(f"{k}={_short(v)}" for k, v in value.items())
        elif isinstance(value, list):
            text = ", ".join(_short(v) for v in value[:4]) + (" …" if len(value) > 4 else "") if value else "none"
        else:
            text = _short(value)
        out.append((key.replace("_", " "), text))
    return out[:6]


def _initials(name: str) -> str:
    parts = [p for p in name.replace("-", " ").split() if p]
    return ("".join(p[0] for p in parts[:2]) or "?").upper()


templates.env.filters.update(dt=_fmt_dt, audit_summary=_audit_summary, iso=_iso, role_label=_role_label,
                             initials=_initials,
                             tojson_compact=lambda v: json.dumps(v, sort_keys=True, default=str))
templates.env.globals["asset_version"] = _asset_version()
templates.env.globals["app_version"] = __version__


# -- flash messages (survive one redirect) ----------------------------------------------------------

def flash(response: Response, message: str, kind: str = "success") -> Response:
    response.set_cookie(FLASH_COOKIE, quote(json.dumps({"kind": kind, "message": message[:300]})),
                        httponly=True, samesite="lax", path="/", max_age=60)
    return response


def redirect(url: str, message: str | None = None, kind: str = "success") -> Response:
    response = RedirectResponse(url, status_code=303)
    if message:
        flash(response, message, kind)
    return response


def pop_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(unquote(raw))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("kind") if data.get("kind") in ("success", "error", "info") else "info"
    return {"kind": str(kind), "message": str(data.get("message", ""))}


# -- company switcher -------------------------------------------------------------------------------

def selected_company(request: Request, principal: Principal, companies: list[Company]) -> Company | None:
    """The company chosen in the switcher; None means all companies (MSP admins only)."""
    chosen = request.cookies.get(COMPANY_COOKIE)
    by_id = {c.id: c for c in companies}
    if chosen and chosen in by_id:
        return by_id[chosen]
    if principal.is_msp_admin or not companies:
        return None
    return companies[0]


def origin_tag(principal: Principal) -> str:
    """An opaque tag for events caused by this login session (the page skips toasts for its own)."""
    return hashlib.sha256(f"aw-origin:{principal.session_id or principal.user_id}".encode()).hexdigest()[:16]


async def page(request: Request, db: AsyncSession, principal: Principal, template: str,
               context: dict[str, Any] | None = None, *, status_code: int = 200,
               section: str = "") -> HTMLResponse:
    """Render a full console page with the layout's context."""
    user = await db.get(User, principal.user_id)
    companies = await tenants.list_companies(db, actor=principal)
    current = selected_company(request, principal, companies)
    flash_message = pop_flash(request)
    ctx: dict[str, Any] = {
        "principal": principal, "me": user, "companies": companies, "current_company": current,
        "company_names": {c.id: c.name for c in companies}, "csrf_token": request.cookies.get(CSRF_COOKIE, ""),
        "flash": flash_message, "section": section, "origin": origin_tag(principal),
        "is_admin": principal.role.value in ("msp_admin", "company_admin"),
        "path": request.url.path,
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    if flash_message is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


def bare(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    """Render a page outside the console layout (login)."""
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
