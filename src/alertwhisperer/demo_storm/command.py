"""``alertwhisperer demo storm``: play a storm into the configured database, with a progress bar and one line per
delivery. A running ``alertwhisperer serve`` (its embedded inbox worker) correlates the deliveries as they land."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.clock import SystemClock
from alertwhisperer.config import Settings
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.demo import DEMO_TENANTS
from alertwhisperer.demo_storm.player import audit_started, play, script_for
from alertwhisperer.demo_storm.script import Step
from alertwhisperer.errors import NotFound
from alertwhisperer.ingest import service as ingest
from alertwhisperer.ingest.models import Alert
from alertwhisperer.tenants.models import Asset, Company

DEMO_SLUGS = [c["slug"] for c in DEMO_TENANTS["companies"]]


async def _company(session: AsyncSession, slug: str | None) -> Company:
    if slug:
        company = (await session.execute(select(Company).where(Company.slug == slug))).scalar_one_or_none()
        if company is None:
            raise NotFound(f"no company with slug {slug!r} (see the Companies page, or import one first)")
        return company
    with_assets = list((await session.execute(
        select(Company).join(Asset, Asset.company_id == Company.id).distinct().order_by(Company.name))).scalars())
    demo = [c for s in DEMO_SLUGS for c in with_assets if c.slug == s]
    if not (demo or with_assets):
        raise NotFound("no company with assets to play a storm on: run `alertwhisperer serve` once in demo mode "
                       "(it seeds the demo companies) or import companies with assets")
    return (demo or with_assets)[0]


async def run_storm(settings: Settings, *, slug: str | None, duration: float, seed: int | None,
                    console: Console) -> None:
    """Raises ``DomainError`` (unknown company, no assets) before anything is sent."""
    engine = make_engine(settings.db_url)
    sessionmaker = make_sessionmaker(engine)
    clock = SystemClock()
    try:
        async with sessionmaker() as session:
            company = await _company(session, slug)
            script = await script_for(session, company=company, clock=clock, seed=seed, duration=duration)
            await audit_started(session, clock=clock, actor=None, company=company, script=script, via="cli")
            await session.commit()
        console.print(f"Demo storm for [bold]{company.name}[/] ({company.slug}): {len(script.steps)} deliveries "
                      f"from {', '.join(script.sources)} over {duration:g} s (seed {script.seed})")
        began = time.monotonic()
        with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("storm", total=len(script.steps))

            def on_step(_: int, step: Step, accepted: ingest.Accepted) -> None:
                note = "  (same delivery again: stored once)" if accepted.duplicate else ""
                bar.console.print(f"{step.at:6.1f}s  {step.title}{note}", markup=False, highlight=False)
                bar.advance(task)

            progress = await play(sessionmaker, clock=clock, company_id=company.id, script=script, on_step=on_step)
        async with sessionmaker() as session:
            processed = (await session.execute(select(func.count()).select_from(Alert).where(
                Alert.company_id == company.id, Alert.received_at >= progress.started_at,
                Alert.outcome.is_not(None)))).scalar_one()
        console.print(f"Sent {progress.sent} deliveries in {time.monotonic() - began:.0f} s: {progress.alerts} alerts "
                      f"stored, {progress.retried} retried deliveries recognised; {processed} correlated so far.",
                      highlight=False)
        if not processed:
            console.print("Nothing correlated yet: start `alertwhisperer serve` on this database; its inbox worker "
                          "turns the stored alerts into incidents.", style="yellow")
    finally:
        await engine.dispose()
