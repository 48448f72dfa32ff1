#!/usr/bin/env python3
"""How fast the job worker takes newly opened incidents from "opened" to "self-healed": the lifecycle job, the
decision engine (matching the company's runbooks, the approval gates), the durable run with the real local
executor (a subprocess per run and one per health check, output stored and published), and the self-healed
resolution (SLA timers stopped, timeline, audit, notification).

    bench/remediation_speed.py                     # 200 incidents on 200 assets, 3 runs, throwaway SQLite each
    bench/remediation_speed.py --incidents 500 --repeat 5
    bench/remediation_speed.py --db postgresql+asyncpg://root@127.0.0.1:5432/{name}   # {name} created and dropped

Prints per run the incidents self-healed per second (the worker's wall time from the first claim to idle) and the
run time per execution (dispatched → finished, p50/p99), then best and median. The machine may be shared:
compare medians of several runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from alertwhisperer import migrate
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.incidents import hooks
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.remediation import runbooks
from alertwhisperer.remediation.models import AssetAccess, Execution
from alertwhisperer.tenants.models import Asset, Company

RUNBOOK = """\
name: disk-cleanup
title: Free disk space (bench)
risk: low
auto_approve: true
trigger:
  symptoms: ["disk"]
steps:
  linux:
    - name: Clean up
      run: echo cleaned
health_check:
  kind: command
  command: "true"
timeout_seconds: 30
"""


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def one_run(n: int, db: str | None) -> tuple[float, list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="aw-remediation-"))
    name = f"aw_bench_{uuid.uuid4().hex[:8]}"
    url = db.format(name=name) if db else f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    if db:
        await _pg(f'CREATE DATABASE "{name}"')
    settings = Settings(database_url=url, data_dir=tmp, secret_key="bench-secret-key-that-is-long-enough-0123456789",
                        env="development")  # type: ignore[arg-type]
    try:
        await migrate.upgrade_async(settings)
        engine = make_engine(url)
        sm = make_sessionmaker(engine)
        clock = FakeClock(datetime(2026, 11, 23, 9, tzinfo=UTC))
        async with sm() as s:
            company = Company(name="Bench", slug="bench", api_key_hash=uuid.uuid4().hex * 2, api_key_prefix="aw_b")
            s.add(company)
            await s.flush()
            admin = User(email="msp@bench.example", name="Bench", role="msp_admin", password_hash="x")
            s.add(admin)
            await s.flush()
            msp = Principal(user_id=admin.id, email=admin.email, role=Role.MSP_ADMIN)
            await runbooks.create(s, actor=msp, clock=clock, yaml_text=RUNBOOK, company_id=company.id)
            for i in range(n):  # one asset each: the loop guard counts runs per runbook and asset
                asset = Asset(company_id=company.id, name=f"web-{i}", type="server")
                s.add(asset)
                await s.flush()
                s.add(AssetAccess(asset_id=asset.id, company_id=company.id, executor="local"))
                incident = Incident(company_id=company.id, title=f"disk on web-{i}", symptom="disk", severity="high",
                                    key=f"k{i}", root_asset_key=asset.id, root_asset_name=asset.name,
                                    asset_keys=[asset.id], first_seen=clock.now(), last_seen=clock.now())
                s.add(incident)
                await s.flush()
                await hooks.notify(s, company_id=company.id, incident_id=incident.id, event=hooks.OPENED,
                                   now=clock.now())
            await s.commit()
        worker = Worker(sm, build_registry(), clock, settings=settings)
        started = time.perf_counter()
        await worker.run_until_idle(max_rounds=100_000)
        elapsed = time.perf_counter() - started
        async with sm() as s:
            healed = len((await s.execute(select(Incident.id).where(
                Incident.resolution_kind == "self_healed"))).all())
            runs = [e.duration_ms / 1000 for e in (await s.execute(select(Execution))).scalars()
                    if e.duration_ms is not None]
        await engine.dispose()
        assert healed == n, f"{healed} of {n} incidents self-healed"
        return n / elapsed, runs
    finally:
        if db:
            await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--incidents", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--db", help="a database URL template with {name} (PostgreSQL); default: SQLite")
    args = p.parse_args()
    rates = []
    for run in range(1, args.repeat + 1):
        rate, runs = asyncio.run(one_run(args.incidents, args.db))
        rates.append(rate)
        print(f"run {run}: {args.incidents} incidents opened → decided → run → health-checked → self-healed: "
              f"{rate:,.1f}/s; run time p50 {_pct(runs, 0.5) * 1000:.0f} ms, p99 {_pct(runs, 0.99) * 1000:.0f} ms",
              flush=True)
    print(f"best {max(rates):,.1f}/s, median {statistics.median(rates):,.1f}/s "
          f"({'PostgreSQL' if args.db else 'SQLite'}; {Worker.BACKGROUND} runs at a time per worker)")


if __name__ == "__main__":
    main()
