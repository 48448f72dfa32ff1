#!/usr/bin/env python3
"""The correlation core alone: alerts/s through ``correlate()`` on a generated scenario (no database, no I/O).

    bench/correlation/engine_speed.py DIR                 # a scenario written by `generate` (or `run --keep`)
    bench/correlation/engine_speed.py --seed 3            # generate one first (into a temp dir)
    bench/correlation/engine_speed.py DIR --result R.jsonl --repeat 3 --profile

Every line is parsed with the real adapter *before* the clock starts; then one ``TenantState`` per company
and ``correlate()`` per alert, as ``alertwhisperer replay`` drives them (same ids, same retried-delivery rule),
so ``--result`` writes a RESULT.jsonl the scorer reads (``score DIR --result R.jsonl``). The first run is the
fair figure (a replay starts with empty symptom caches); later runs reuse the classifier's caches. Figures on a
shared machine are noisy.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
try:
    import alertwhisperer  # noqa: F401
except ImportError:  # not the project's venv: re-run with it
    venv = HERE.parents[1] / ".venv" / "bin" / "python"
    if venv.exists():
        os.execv(str(venv), [str(venv), __file__, *sys.argv[1:]])
    raise

from alertwhisperer.correlation import AssetInfo, Tenant, TenantState, correlate  # noqa: E402
from alertwhisperer.ingest import adapters  # noqa: E402
from alertwhisperer.ingest.adapters.base import AdapterError  # noqa: E402
from alertwhisperer.ingest.schemas import AlertIn  # noqa: E402
from alertwhisperer.ingest.service import idempotency_key  # noqa: E402

TTL = timedelta(hours=24)


@dataclass
class Line:
    number: int
    company: str
    at: datetime
    key: str | None
    alerts: list[AlertIn]


def tenants(path: Path) -> dict[str, Tenant]:
    data = json.loads(path.read_text())
    out: dict[str, Tenant] = {}
    for company in data["companies"]:
        assets = [AssetInfo(id=a["name"], name=a["name"], type=a.get("type") or "server", ip=a.get("ip"),
                            fqdn=a.get("fqdn"), instance_id=a.get("instance_id"), tags=a.get("tags") or {},
                            critical=bool(a.get("critical")), depends_on=tuple(sorted(a.get("depends_on") or ())))
                  for a in company.get("assets", [])]
        out[company["slug"]] = Tenant.build(company["slug"], assets=assets)
    return out


def parse(path: Path) -> list[Line]:
    lines: list[Line] = []
    with path.open() as fh:
        for number, text in enumerate(fh):
            if not text.strip():
                continue
            item = json.loads(text)
            adapter = adapters.get(item["source"])
            if adapter is None:
                continue
            headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
            headers.setdefault("content-type", "application/json")
            body = item["body"]
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            try:
                result = adapter.parse(raw, headers)
            except AdapterError:
                continue
            at = datetime.fromisoformat(item["received_at"].replace("Z", "+00:00"))
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            lines.append(Line(number, item["company"], at, idempotency_key(headers, result), list(result.alerts)))
    return lines


def run(lines: list[Line], by_slug: dict[str, Tenant], keep_gc: bool = False
        ) -> tuple[float, int, list[dict[str, Any]]]:
    """Correlate every line; returns (seconds in the loop, alerts correlated, result rows)."""
    holders = {slug: [""] for slug in by_slug}
    states = {slug: TenantState(slug, id_factory=(lambda h=holders[slug]: h[0])) for slug in by_slug}
    seen: dict[tuple[str, str], tuple[datetime, list[dict[str, Any]]]] = {}
    rows: list[dict[str, Any]] = []
    count = 0
    if not keep_gc:
        gc.disable()  # as the replay does: the cyclic GC would rescan every decision kept
    started = time.perf_counter()
    for ln in lines:
        state, tenant = states[ln.company], by_slug[ln.company]
        if ln.key is not None:
            known = seen.get((ln.company, ln.key))
            if known is not None and ln.at - known[0] <= TTL and known[1]:
                for index in range(len(ln.alerts)):
                    first = known[1][min(index, len(known[1]) - 1)]
                    rows.append({**first, "line": ln.number, "index": index, "outcome": "duplicate"})
                continue
        mine = []
        for index, alert in enumerate(ln.alerts):
            alert_id = f"a{ln.number:08d}{index:04d}"
            holders[ln.company][0] = f"i{ln.number:08d}{index:04d}"
            d = correlate(alert, state, tenant=tenant, now=ln.at, alert_id=alert_id)
            mine.append({"line": ln.number, "index": index, "alert_id": alert_id, "incident_id": d.incident_id,
                         "outcome": d.outcome, "reason": d.reason, "company": ln.company,
                         "raw_incident": d.incident_id, "merged": list(d.merged), "rule": d.explanation.rule})
            count += 1
        rows += mine
        if ln.key is not None:
            seen[(ln.company, ln.key)] = (ln.at, mine)
    elapsed = time.perf_counter() - started
    gc.enable()
    for r in rows:
        if r["incident_id"]:
            r["incident_id"] = states[r["company"]].canonical(r["incident_id"])
    return elapsed, count, rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", type=Path, nargs="?", help="scenario directory (ALERTS.jsonl, TENANTS.json)")
    ap.add_argument("--seed", type=int, default=1, help="generate this seed when no directory is given")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    ap.add_argument("--result", type=Path, help="write RESULT.jsonl (for `score DIR --result`)")
    ap.add_argument("--profile", action="store_true", help="cProfile one more run, top 30 by own time")
    ap.add_argument("--gc", action="store_true", help="keep the cyclic garbage collector on while timing")
    args = ap.parse_args(argv)
    scenario = args.scenario
    if scenario is None:
        sys.path.insert(0, str(HERE))
        from gen import generate

        scenario = Path(tempfile.mkdtemp(prefix="aw-engine-"))
        generate(args.seed, 6.0, 12, scenario)
    started = time.perf_counter()
    by_slug = tenants(scenario / "TENANTS.json")
    lines = parse(scenario / "ALERTS.jsonl")
    parsed = time.perf_counter() - started
    runs = [run(lines, by_slug, args.gc) for _ in range(max(args.repeat, 1))]
    first, count, rows = runs[0]  # cold: the classifier's caches start empty, as in a replay
    best = min(r[0] for r in runs)  # warm: the symptom caches filled by the runs before
    print(f"{count:,} alerts correlated: {count / first:,.0f} alerts/s through correlate() on the first run "
          f"({first:.2f} s), {count / best:,.0f} alerts/s best of {len(runs)} with warm symptom caches "
          f"({best:.2f} s); parsing {parsed:.1f} s not counted")
    if args.result:
        with args.result.open("w") as fh:
            for r in rows:
                fh.write(json.dumps({k: v for k, v in r.items() if k != "company"}) + "\n")
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        run(lines, by_slug)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
