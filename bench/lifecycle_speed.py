#!/usr/bin/env python3
"""How fast the job worker takes newly opened incidents through their lifecycle job: category, SLA deadlines and
timers, automatic assignment (a technician with the skill on an on-call rotation), timeline, audit and the
assignment notification (bell + an email delivery job, not sent here).

    bench/lifecycle_speed.py                    # 500 incidents, 3 runs, a throwaway SQLite database each
    bench/lifecycle_speed.py --incidents 2000 --repeat 5
    bench/lifecycle_speed.py --db postgresql+asyncpg://root@127.0.0.1:5432/{name}   # {name} created and dropped

Prints incidents/s per run (the worker's wall time from the first claim to idle), best and median. The machine
may be shared: compare medians of several runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from alertwhisperer import migrate
from alertwhisperer.auth.models import Membership, User
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.incidents import hooks
from alertwhisperer.incidents.models import OnCallSchedule
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.tenants.models import Company


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def one_run(n: int, db: str | None) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="aw-lifecycle-"))
    name = f"aw_bench_{uuid.uuid4().hex[:8]}"
    url = db.format(name=name) if db else f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    if db:
        await _pg(f'CREATE DATABASE "{name}"')
    try:
        await migrate.upgrade_async(Settings(database_url=url, data_dir=tmp))
        engine = make_engine(url)
        sm = make_sessionmaker(engine)
        clock = FakeClock(datetime(2026, 11, 23, 9, tzinfo=UTC))
        async with sm() as s:
            company = Company(name="Bench", slug="bench", api_key_hash=uuid.uuid4().hex * 2, api_key_prefix="aw_b")
            s.add(company)
            await s.flush()
            techs = [User(email=f"t{i}@bench.example", name=f"Tech {i}", role="technician", password_hash="x",
                          category="Database", skills=["Database"], max_concurrent_incidents=100)
                     for i in range(4)]
            s.add_all(techs)
            await s.flush()
            s.add_all(Membership(user_id=t.id, company_id=company.id) for t in techs)
            s.add(OnCallSchedule(company_id=company.id, name="DB", category="Database", layers=[
                {"name": "Primary", "rotation": "weekly", "handoff_time": "09:00", "handoff_weekday": 0,
                 "starts_on": date(2026, 11, 2).isoformat(), "members": [techs[0].id], "days": [],
                 "hours_from": None, "hours_to": None}]))
            for i in range(n):
                incident = Incident(company_id=company.id, title=f"db connections on db-{i}", symptom="db_connections",
                                    severity="high", key=f"k{i}", first_seen=clock.now(), last_seen=clock.now())
                s.add(incident)
                await s.flush()
                await hooks.notify(s, company_id=company.id, incident_id=incident.id, event=hooks.OPENED,
                                   now=clock.now())
            await s.commit()
        worker = Worker(sm, build_registry(), clock, settings=Settings(database_url=url, data_dir=tmp))
        started = time.perf_counter()
        ran = await worker.run_until_idle(max_rounds=100_000)
        elapsed = time.perf_counter() - started
        await engine.dispose()
        assert ran >= n, f"ran {ran} jobs for {n} incidents"
        return n / elapsed
    finally:
        if db:
            await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--incidents", type=int, default=500)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--db", help="a database URL template with {name} (PostgreSQL); default: SQLite")
    args = p.parse_args()
    rates = []
    for run in range(1, args.repeat + 1):
        rate = asyncio.run(one_run(args.incidents, args.db))
        rates.append(rate)
        print(f"run {run}: {args.incidents} incidents through their lifecycle job: {rate:,.0f}/s", flush=True)
    print(f"best {max(rates):,.0f}/s, median {statistics.median(rates):,.0f}/s "
          f"({'PostgreSQL' if args.db else 'SQLite'})")


if __name__ == "__main__":
    main()
