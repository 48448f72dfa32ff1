"""Generate a labelled correlation scenario: TENANTS.json, ALERTS.jsonl, TRUTH.jsonl (+ FAULTS.json).

Every delivery is parsed by the real adapter before it is written (self-check), so TRUTH rows align with the
adapter's alert order within a line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from emit import Emitter
from faults import simulate
from model import build_companies


def body_bytes(body: Any) -> bytes:
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def parse_line(line: dict[str, Any]) -> list[Any]:
    from alertwhisperer.ingest import adapters

    adapter = adapters.get(line["source"])
    if adapter is None:
        raise SystemExit(f"no adapter {line['source']!r}")
    return list(adapter.parse(body_bytes(line["body"]), line["headers"]).alerts)


def generate(seed: int, hours: float, companies: int, out: Path, retry_rate: float = 0.03,
             scale: float = 1.0, check: bool = True) -> dict[str, Any]:
    rng = random.Random(seed)
    comps = build_companies(rng, companies)
    built = simulate(rng, comps, hours, scale)
    zabbix_fqdn = {c.slug for c in comps if rng.random() < 0.4}
    deliveries = Emitter(rng, zabbix_fqdn).deliveries(built.signals, retry_rate)

    if check:  # the tenants must be importable as they are
        from alertwhisperer.tenants.schemas import AssetCreate

        for comp in comps:
            for asset in comp.assets:
                AssetCreate.model_validate(asset.export())
    out.mkdir(parents=True, exist_ok=True)
    (out / "TENANTS.json").write_text(json.dumps({"companies": [c.export() for c in comps]}, indent=1) + "\n")
    (out / "FAULTS.json").write_text(json.dumps(built.faults, indent=1) + "\n")
    per_source: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    alerts = 0
    with (out / "ALERTS.jsonl").open("w") as fa, (out / "TRUTH.jsonl").open("w") as ft:
        for n, d in enumerate(deliveries):
            line = d.line()
            fa.write(json.dumps(line, separators=(",", ":")) + "\n")
            if check:
                parsed = parse_line(line)
                if len(parsed) != len(d.signals):
                    raise SystemExit(f"line {n}: {d.source} yields {len(parsed)} alerts, expected {len(d.signals)}")
                for alert, sig in zip(parsed, d.signals, strict=True):
                    if alert.status != sig.status:
                        raise SystemExit(f"line {n}: {d.source} parsed status {alert.status}, meant {sig.status}")
                    statuses[alert.status] += 1
            for i, sig in enumerate(d.signals):
                kind = "noise" if sig.fault is None else sig.fault.rsplit("-", 1)[-1]
                ft.write(json.dumps({"line": n, "index": i, "company": sig.company, "fault": sig.fault,
                                     "noise": sig.noise, "kind": kind, "asset": sig.asset.name,
                                     "check": sig.check}, separators=(",", ":")) + "\n")
                per_source[d.source] += 1
                alerts += 1
    kinds = Counter(f["kind"] for f in built.faults)
    return {"lines": len(deliveries), "alerts": alerts, "faults": len(built.faults), "fault_kinds": dict(kinds),
            "sources": dict(per_source), "statuses": dict(statuses),
            "noise_alerts": sum(1 for s in built.signals if s.fault is None)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hours", type=float, default=6.0, help="event time simulated (default 6)")
    ap.add_argument("--companies", type=int, default=12)
    ap.add_argument("--out", type=Path, required=True, help="directory for the scenario files")
    ap.add_argument("--retry-rate", type=float, default=0.03, help="share of deliveries sent twice")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every fault and noise rate")
    ap.add_argument("--no-check", action="store_true", help="skip parsing every line with the real adapters")
    args = ap.parse_args(argv)
    stats = generate(args.seed, args.hours, args.companies, args.out, args.retry_rate, args.scale,
                     check=not args.no_check)
    json.dump(stats, sys.stdout, indent=1)
    print()
    return 0
