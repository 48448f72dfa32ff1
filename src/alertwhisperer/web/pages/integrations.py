"""A company's Integrations page: the monitoring tools with their guides (this company's real webhook URL,
never its key), "send test alert", plus webhook signing and heartbeats (see ``integration_settings``)."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal
from alertwhisperer.config import Settings
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.errors import NotFound
from alertwhisperer.ingest import heartbeats, integrations, queries, signing
from alertwhisperer.ingest.signing import DEFAULT_GRACE
from alertwhisperer.jobs.worker import wake_workers
from alertwhisperer.tenants import service as tenants
from alertwhisperer.tenants.models import Company
from alertwhisperer.web.forms import FormErrors
from alertwhisperer.web.templating import page, redirect, templates

router = APIRouter()
KEY_HEADER = "X-API-Key"
KEY_QUERY = "api_key"
_CODE = re.compile(r'<pre><code(?: class="language-([\w+#.-]+)")?>(.*?)</code></pre>', re.DOTALL)
_LANGS = {"sh": "Shell", "bash": "Shell", "shell": "Shell", "yaml": "YAML", "yml": "YAML", "json": "JSON",
          "python": "Python", "ini": "Config", "conf": "Config", "text": "Text", "xml": "XML", "js": "JavaScript",
          "javascript": "JavaScript", "toml": "TOML", "powershell": "PowerShell"}


def duration(seconds: int) -> str:
    """300 -> "5 min", 90 -> "90 s", 7200 -> "2 h", 86400 -> "1 day"."""
    if seconds and seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days > 1 else ''}"
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def tone(key: str) -> int:
    """A stable colour (0-5) for a tool's monogram."""
    return sum(map(ord, key)) % 6


templates.env.filters.update(duration=duration, tone=tone)


def public_base(request: Request, settings: Settings) -> str:
    """The address monitoring tools should use: the configured public URL, else the one the console is on."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


def code_blocks(html: str, prefix: str = "code") -> str:
    """Give every code block of a rendered guide a header with its language and a copy button."""
    counter = iter(range(1, 1000))

    def wrap(m: re.Match[str]) -> str:
        n = next(counter)
        lang = m.group(1) or ""
        label = _LANGS.get(lang.lower(), lang.upper() or "Code")
        cls = f' class="language-{escape(lang)}"' if lang else ""
        return (f'<div class="code-block"><div class="code-head"><span>{escape(label)}</span>'
                f'<button type="button" class="btn btn-sm code-copy" data-copy="#{prefix}-{n}">'
                f'<svg class="icon"><use href="#i-copy"/></svg><span>Copy</span></button></div>'
                f'<pre class="code"><code id="{prefix}-{n}"{cls}>{m.group(2)}</code></pre></div>')

    return _CODE.sub(wrap, html)


def _tool(base: str, key: str) -> integrations.Integration:
    for item in integrations.list_integrations(base):
        if item.key == key:
            return item
    raise NotFound(f"no integration named {key!r}")


def can_manage(user: Principal, company_id: str) -> bool:
    return user.sees_company(company_id) and user.role.value in ("msp_admin", "company_admin")


async def index_page(request: Request, db: AsyncSession, user: Principal, settings: Settings, company: Company, *,
                     new_secret: signing.RotatedSecret | None = None, hb_values: dict[str, str] | None = None,
                     hb_errors: FormErrors | None = None, status_code: int = 200) -> Response:
    """The overview: tools, endpoint facts, signing status, heartbeats (also re-rendered with form errors)."""
    base = public_base(request, settings)
    secret_row = await signing.status(db, actor=user, company_id=company.id)
    rows = await heartbeats.list_for(db, actor=user, company_id=company.id)
    return await page(request, db, user, "integrations/index.html", {
        "company": company, "tools": integrations.list_integrations(base), "base_url": base,
        "activity": await queries.source_activity(db, actor=user, company_id=company.id),
        "key_header": KEY_HEADER, "key_query": KEY_QUERY, "secret_row": secret_row, "new_secret": new_secret,
        "grace_hours": int(DEFAULT_GRACE.total_seconds() // 3600),
        "heartbeats": [heartbeats.to_out(h) for h in rows],
        "hb_values": hb_values or {"interval_seconds": "300", "grace_seconds": "60"},
        "hb_errors": hb_errors or {}, "can_edit": can_manage(user, company.id),
    }, status_code=status_code, section="integrations")


@router.get("/companies/{company_id}/integrations")
async def integrations_index(company_id: str, request: Request, user: CurrentUser, db: SessionDep,
                             settings: SettingsDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    return await index_page(request, db, user, settings, company)


@router.get("/companies/{company_id}/integrations/{source}")
async def integration_guide(company_id: str, source: str, request: Request, user: CurrentUser, db: SessionDep,
                            settings: SettingsDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    base = public_base(request, settings)
    tool = _tool(base, source)
    markdown = integrations.render_guide(source, base_url=base, company_name=company.name)  # key placeholder only
    activity = await queries.source_activity(db, actor=user, company_id=company.id)
    return await page(request, db, user, "integrations/guide.html", {
        "company": company, "tool": tool, "tools": integrations.list_integrations(base),
        "guide": code_blocks(integrations.guide_html(markdown), "guide-code"),
        "sample": integrations.sample_preview(source), "key_header": KEY_HEADER, "key_query": KEY_QUERY,
        "activity": activity.get(source), "can_edit": can_manage(user, company.id),
    }, section="integrations")


@router.post("/companies/{company_id}/integrations/{source}/test")
async def send_test_alert(company_id: str, source: str, request: Request, user: CurrentUser, db: SessionDep,
                          clock: ClockDep) -> Response:
    company = await tenants.get_company(db, actor=user, company_id=company_id)
    user.require_company_admin(company.id, "send test alerts")
    accepted = await integrations.send_test_alert(db, actor=user, clock=clock, company_id=company.id, key=source)
    await commit(request, db)
    wake_workers(getattr(request.app.state, "hub", None))
    n = len(accepted.alert_ids)
    ctx: dict[str, Any] = {"company": company, "source": source, "n": n, "delivery_id": accepted.delivery_id}
    if request.headers.get("hx-request"):
        return templates.TemplateResponse(request, "integrations/_test_result.html", ctx)
    noun = "alert" if n == 1 else "alerts"
    return redirect(f"/companies/{company.id}/integrations/{source}",
                    f"Test alert stored: {n} {noun} — watch it arrive on the Alerts page.")
