"""The dashboard's "Play demo storm" button (``templates/demo/_storm_button.html``).

``POST /demo/storm`` starts a storm for the selected company (or the first demo company) as a background task the
app owns: one per company at a time, company admins of that company and MSP admins only, and outside demo mode MSP
admins only; audited as ``demo.storm_started``. ``GET /demo/storm`` renders the button; it polls itself while a
storm runs. Running storms are cancelled when the app shuts down.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.demo import DEMO_TENANTS
from alertwhisperer.demo_storm.player import StormRunner, audit_started, script_for
from alertwhisperer.demo_storm.script import NOMINAL_SECONDS
from alertwhisperer.deps import CSRF_COOKIE, ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.errors import Conflict, Forbidden, Invalid, NotFound
from alertwhisperer.jobs.worker import wake_workers
from alertwhisperer.tenants import service as tenants
from alertwhisperer.tenants.models import Company
from alertwhisperer.web.forms import Form
from alertwhisperer.web.templating import redirect, selected_company, templates

DEMO_SLUGS = [c["slug"] for c in DEMO_TENANTS["companies"]]
PARTIAL = "demo/_storm_button.html"
MAX_DURATION = 600.0


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await storms(app).stop()  # before the app's own shutdown disposes of the engine


router = APIRouter(lifespan=_lifespan)


def storms(app: FastAPI) -> StormRunner:
    """The app's storm runner (kept on app.state so its tasks are referenced until they finish)."""
    runner: StormRunner | None = getattr(app.state, "demo_storms", None)
    if runner is None:
        runner = app.state.demo_storms = StormRunner()
    return runner


def pick_company(current: Company | None, companies: Sequence[Company]) -> Company | None:
    """The selected company, else the first demo company, else the first one."""
    if current is not None:
        return current
    by_slug = {c.slug: c for c in companies}
    return next((by_slug[s] for s in DEMO_SLUGS if s in by_slug), companies[0] if companies else None)


def may_start(principal: Principal, company_id: str, demo_mode: bool) -> bool:
    return principal.sees_company(company_id) and principal.role in (Role.MSP_ADMIN, Role.COMPANY_ADMIN) and (
        demo_mode or principal.is_msp_admin)


def button_state(request: Request, principal: Principal | None, current: Company | None,
                 companies: Sequence[Company] | None) -> dict[str, Any] | None:
    """What the partial shows (None: nothing, for users who may not start a storm)."""
    company = pick_company(current, companies or [])
    if principal is None or company is None or not may_start(principal, company.id,
                                                             request.app.state.settings.demo):
        return None
    runner = storms(request.app)
    return {"company": company, "running": runner.running(company.id), "progress": runner.progress.get(company.id)}


templates.env.globals["demo_storm_state"] = button_state


async def _company(request: Request, db: AsyncSession, user: Principal, company_id: str) -> Company:
    if company_id:
        return await tenants.get_company(db, actor=user, company_id=company_id)  # 404 outside the caller's scope
    companies = await tenants.list_companies(db, actor=user)
    company = pick_company(selected_company(request, user, companies), companies)
    if company is None:
        raise NotFound("no company to play a storm on: create one with assets first")
    return company


def _duration(text: str) -> float:
    if not text:
        return NOMINAL_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 1 <= value <= MAX_DURATION:
        raise Invalid(f"duration must be between 1 and {MAX_DURATION:g} seconds", field="duration")
    return value


def _partial(request: Request, user: Principal, company: Company) -> Response:
    return templates.TemplateResponse(request, PARTIAL, {
        "principal": user, "current_company": company, "companies": [company],
        "csrf_token": request.cookies.get(CSRF_COOKIE, "")})


@router.post("/demo/storm")
async def start_storm(request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep,
                      clock: ClockDep) -> Response:
    form = await Form.read(request)
    company = await _company(request, db, user, form.text("company_id"))
    user.require_company_admin(company.id, "start a demo storm")
    if not may_start(user, company.id, settings.demo):
        raise Forbidden("demo storms need demo mode (ALERTWHISPERER_DEMO=true); only an MSP admin may start one "
                        "outside it")
    runner = storms(request.app)
    async with runner.starting:
        if runner.running(company.id):
            progress = runner.progress[company.id]
            raise Conflict(f"a demo storm is already running for {company.name} ({progress.sent} of "
                           f"{progress.total} deliveries sent): wait for it to finish")
        script = await script_for(db, company=company, clock=clock, duration=_duration(form.text("duration")))
        await audit_started(db, clock=clock, actor=user, company=company, script=script, via="console")
        await commit(request, db)
        hub = getattr(request.app.state, "hub", None)
        runner.start(request.app.state.sessionmaker, clock=clock, company_id=company.id, script=script,
                     wake=lambda: wake_workers(hub))
    if request.headers.get("hx-request"):
        return _partial(request, user, company)
    return redirect("/", f"Demo storm started for {company.name}: {len(script.steps)} deliveries from "
                         f"{len(script.sources)} tools over {script.duration:g} s. Watch the alerts arrive.")


@router.get("/demo/storm")
async def storm_button(request: Request, user: CurrentUser, db: SessionDep, company_id: str = "") -> Response:
    """The button alone (what the running button polls)."""
    return _partial(request, user, await _company(request, db, user, company_id))
