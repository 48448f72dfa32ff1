#!/usr/bin/env python3
"""``alertwhisperer replay`` speed, end to end: generate a scenario of about N alerts, run the CLI, print alerts/s.

    bench/replay_speed.py                       # ~50k alerts, 3 runs on the throwaway SQLite database
    bench/replay_speed.py --alerts 15000 --repeat 5
    bench/replay_speed.py --dir /tmp/rp         # an existing scenario (ALERTS.jsonl + TENANTS.json)
    bench/replay_speed.py --db postgresql+asyncpg://root@127.0.0.1:5432/{name}
                                                # a fresh database per run: {name} is created and dropped

Figures per run: **end to end** (the process's wall time, from exec to exit: interpreter, imports, migration,
tenant import, replay, writes), **excluding start-up** (the CLI's own figure: reading + correlating + database +
RESULT.jsonl) and the **engine alone** (time inside ``correlate()``). The machine may be shared: the best and the
median of ``--repeat`` runs are printed. RESULT.jsonl must be byte-identical across runs (checked).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv" / "bin"
ALERTS_PER_HOUR = 2600  # the generator's default estate (12 companies) sends about this many alerts per hour


def generate(out: Path, alerts: int, seed: int) -> None:
    hours = max(alerts / ALERTS_PER_HOUR, 0.5)
    subprocess.run([str(VENV / "python"), str(HERE / "correlation" / "generate"), "--out", str(out), "--seed",
                    str(seed), "--hours", f"{hours:.2f}", "--no-check"], check=True, stdout=subprocess.DEVNULL)


def _pg(url: str, sql: str) -> None:
    import asyncio

    import asyncpg

    dsn = re.sub(r"^postgresql\+asyncpg://", "postgresql://", url.rsplit("/", 1)[0] + "/postgres")

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def run_once(scenario: Path, out: Path, db: str | None) -> dict[str, float]:
    cmd = [str(VENV / "alertwhisperer"), "replay", str(scenario / "ALERTS.jsonl"), "--tenants",
           str(scenario / "TENANTS.json"), "--out", str(out)]
    name = None
    if db:
        name = f"aw_speed_{uuid.uuid4().hex[:10]}"
        _pg(db, f'CREATE DATABASE "{name}"')
        cmd += ["--db", db.replace("{name}", name)]
    try:
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    finally:
        if name:
            _pg(db or "", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if proc.returncode != 0:
        raise SystemExit(f"replay failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    text = proc.stdout
    alerts = int(re.search(r"alerts: (\d+)", text).group(1))  # type: ignore[union-attr]
    time_match = re.search(r"time: ([\d.]+)s .*?engine ([\d.]+)s", text)
    assert time_match, text
    replay_s, engine_s = float(time_match.group(1)), float(time_match.group(2))
    return {"alerts": alerts, "wall": wall, "replay": replay_s, "engine": engine_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=50_000, help="about how many alerts to generate")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path, help="an existing scenario instead of generating one")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", help="a PostgreSQL URL whose database name is {name} (created and dropped per run)")
    args = ap.parse_args()
    if args.db and "{name}" not in args.db:
        ap.error("--db must contain {name}: each run needs a fresh, empty database")
    with tempfile.TemporaryDirectory(prefix="aw-speed-") as tmp:
        scenario = args.dir or Path(tmp) / "scenario"
        if args.dir is None:
            print(f"generating about {args.alerts:,} alerts ...", file=sys.stderr)
            generate(scenario, args.alerts, args.seed)
        runs, digests = [], set()
        for n in range(args.repeat):
            out = Path(tmp) / f"result{n}.jsonl"
            r = run_once(scenario, out, args.db)
            digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
            runs.append(r)
            rates = {k: r["alerts"] / r[k] for k in ("wall", "replay", "engine")}
            print(f"run {n + 1}: {r['alerts']:,.0f} alerts  end to end {r['wall']:.2f}s = {rates['wall']:,.0f}/s  "
                  f"excluding start-up {r['replay']:.2f}s = {rates['replay']:,.0f}/s  engine alone "
                  f"{r['engine']:.2f}s = {rates['engine']:,.0f}/s", file=sys.stderr)
    print(f"database: {'PostgreSQL' if args.db else 'throwaway SQLite'}; {runs[0]['alerts']:,.0f} alerts; "
          f"{len(runs)} runs; RESULT.jsonl {'identical' if len(digests) == 1 else 'DIFFERS'} across runs")
    for label, key in (("end to end", "wall"), ("excluding start-up", "replay"), ("engine alone", "engine")):
        rates = sorted((r["alerts"] / r[key] for r in runs), reverse=True)
        print(f"  {label:20s} best {rates[0]:8,.0f} alerts/s   median {statistics.median(rates):8,.0f} alerts/s")
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    if Path(sys.prefix).resolve() != VENV.parent.resolve() and (VENV / "python").exists():
        os.execv(str(VENV / "python"), [str(VENV / "python"), __file__, *sys.argv[1:]])
    raise SystemExit(main())
