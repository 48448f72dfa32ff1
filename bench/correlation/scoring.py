"""Scoring a grouping (RESULT.jsonl) against the ground truth (TRUTH.jsonl), and the seeds' rule baseline.

Truth groups: the alerts of one fault; a noise alert episode (its firing, repeats, retried deliveries and
resolve) is a group of its own. Only alerts that reached an incident are scored; suppressed and rejected
rows (and rows without incident) are counted separately.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

Key = tuple[int, int]
TARGETS = {"noise_reduction": 0.75, "precision": 0.95, "recall": 0.85, "cross_company": 0}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def load_truth(path: Path) -> dict[Key, dict[str, Any]]:
    return {(r["line"], r["index"]): r for r in read_jsonl(path)}


def truth_group(row: dict[str, Any], key: Key) -> str:
    return row.get("fault") or row.get("noise") or f"single:{key[0]}:{key[1]}"


def load_result(path: Path) -> tuple[dict[Key, str | None], Counter[str]]:
    assign: dict[Key, str | None] = {}
    outcomes: Counter[str] = Counter()
    for r in read_jsonl(path):
        outcome = r.get("outcome") or "?"
        outcomes[outcome] += 1
        incident = r.get("incident_id")
        assign[(r["line"], r["index"])] = None if outcome in ("suppressed", "rejected") else incident
    return assign, outcomes


def pairs(n: int) -> int:
    return n * (n - 1) // 2


def metrics(truth: dict[Key, dict[str, Any]], assign: dict[Key, str | None]) -> dict[str, Any]:
    scored = {k: inc for k, inc in assign.items() if inc is not None and k in truth}
    missing = sum(1 for k in truth if k not in assign)
    unknown = sum(1 for k in assign if k not in truth)
    by_incident: dict[str, list[Key]] = defaultdict(list)
    for k, inc in scored.items():
        by_incident[str(inc)].append(k)
    group_of = {k: truth_group(truth[k], k) for k in scored}
    cells = Counter((str(scored[k]), group_of[k]) for k in scored)
    group_sizes = Counter(group_of.values())
    tp = sum(pairs(n) for n in cells.values())
    predicted = sum(pairs(len(v)) for v in by_incident.values())
    actual = sum(pairs(n) for n in group_sizes.values())
    fault_incidents: dict[str, set[str]] = defaultdict(set)
    kind_of: dict[str, str] = {}
    for k, inc in scored.items():
        fault = truth[k].get("fault")
        if fault:
            fault_incidents[fault].add(str(inc))
            kind_of[fault] = truth[k].get("kind", "?")
    per_fault = [len(v) for v in fault_incidents.values()]
    per_kind: dict[str, list[int]] = defaultdict(list)
    for fault, incs in fault_incidents.items():
        per_kind[kind_of[fault]].append(len(incs))
    cross = sum(1 for keys in by_incident.values() if len({truth[k]["company"] for k in keys}) > 1)
    mixed = sum(1 for keys in by_incident.values() if len({group_of[k] for k in keys}) > 1)
    incidents = len(by_incident)
    # B-cubed (per alert, less dominated by the largest groups than pairwise counts)
    sizes = {inc: len(keys) for inc, keys in by_incident.items()}
    b_precision = sum(cells[(str(scored[k]), group_of[k])] / sizes[str(scored[k])] for k in scored)
    b_recall = sum(cells[(str(scored[k]), group_of[k])] / group_sizes[group_of[k]] for k in scored)
    return {
        "alerts": len(truth), "scored": len(scored), "not_in_incident": len(truth) - len(scored) - missing,
        "missing_rows": missing, "unknown_rows": unknown, "incidents": incidents,
        "noise_reduction": 1 - incidents / len(scored) if scored else 0.0,
        "precision": tp / predicted if predicted else 1.0, "recall": tp / actual if actual else 1.0,
        "bcubed_precision": b_precision / len(scored) if scored else 1.0,
        "bcubed_recall": b_recall / len(scored) if scored else 1.0,
        "faults": len(per_fault), "incidents_per_fault_mean": sum(per_fault) / len(per_fault) if per_fault else 0.0,
        "incidents_per_fault_max": max(per_fault, default=0),
        "incidents_per_fault_by_kind": {k: round(sum(v) / len(v), 2) for k, v in sorted(per_kind.items())},
        "cross_company_incidents": cross, "mixed_incidents": mixed,
    }


# -- the seeds' rule ------------------------------------------------------------------------------------------
def parse_deliveries(alerts_path: Path) -> list[tuple[dict[str, Any], list[Any] | None]]:
    """Every line with the real adapter's alerts (None when the adapter rejects the line)."""
    from alertwhisperer.ingest import adapters
    from alertwhisperer.ingest.adapters.base import AdapterError

    out: list[tuple[dict[str, Any], list[Any] | None]] = []
    for line in read_jsonl(alerts_path):
        adapter = adapters.get(line["source"])
        body = line["body"]
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            alerts = list(adapter.parse(raw, line.get("headers") or {}).alerts) if adapter else None
        except AdapterError:
            alerts = None
        out.append((line, alerts))
    return out


def seeds_rule(alerts_path: Path, window_minutes: float = 15.0) -> dict[Key, str | None]:
    """Group by company + asset reference (verbatim, case-folded) + signature within a window from creation.

    A retried delivery (an ``X-Delivery-ID`` seen before) repeats the earlier line's alerts; a resolve joins
    the latest incident of its key whatever its age (it opens one only when the key has none).
    """
    window = timedelta(minutes=window_minutes)
    open_by_key: dict[tuple[str, str, str], tuple[str, datetime]] = {}
    seen_delivery: dict[tuple[str, str], int] = {}
    assign: dict[Key, str | None] = {}
    seq = 0
    for n, (line, alerts) in enumerate(parse_deliveries(alerts_path)):
        if alerts is None:
            continue
        headers = {k.lower(): v for k, v in (line.get("headers") or {}).items()}
        delivery = headers.get("x-delivery-id")
        if delivery and (line["company"], delivery) in seen_delivery:
            first = seen_delivery[(line["company"], delivery)]
            for i in range(len(alerts)):
                assign[(n, i)] = assign.get((first, i))
            continue
        if delivery:
            seen_delivery[(line["company"], delivery)] = n
        now = datetime.fromisoformat(line["received_at"].replace("Z", "+00:00"))
        for i, alert in enumerate(alerts):
            key = (line["company"], (alert.asset_ref or "").lower(), alert.signature)
            current = open_by_key.get(key)
            if current and (alert.status == "resolved" or now - current[1] <= window):
                assign[(n, i)] = current[0]
                continue
            seq += 1
            incident = f"seed-{seq}"
            open_by_key[key] = (incident, now)
            assign[(n, i)] = incident
    return assign


def fmt(m: dict[str, Any]) -> str:
    lines = [
        f"  alerts                 {m['alerts']}  (in incidents {m['scored']}, suppressed/rejected/none "
        f"{m['not_in_incident']}, missing rows {m['missing_rows']})",
        f"  incidents              {m['incidents']}",
        f"  noise reduction        {m['noise_reduction']:.1%}",
        f"  pairwise precision     {m['precision']:.3f}",
        f"  pairwise recall        {m['recall']:.3f}",
        f"  B-cubed P / R          {m['bcubed_precision']:.3f} / {m['bcubed_recall']:.3f}",
        f"  incidents per fault    mean {m['incidents_per_fault_mean']:.2f}  max {m['incidents_per_fault_max']}"
        f"  ({m['faults']} faults)",
        "  by kind                " + ", ".join(f"{k} {v}" for k, v in m["incidents_per_fault_by_kind"].items()),
        f"  mixed incidents        {m['mixed_incidents']}  (alerts of 2+ truth groups)",
        f"  cross-company          {m['cross_company_incidents']}",
    ]
    return "\n".join(lines)


def verdict(m: dict[str, Any]) -> dict[str, bool]:
    return {"noise_reduction": m["noise_reduction"] >= TARGETS["noise_reduction"],
            "precision": m["precision"] >= TARGETS["precision"], "recall": m["recall"] >= TARGETS["recall"],
            "cross_company": m["cross_company_incidents"] == 0}


def table(rows: dict[str, dict[str, Any] | None]) -> str:
    """Side-by-side: one column per contender (None = not available) plus the targets."""
    names = list(rows)
    head = f"{'metric':<22}" + "".join(f"{n:>16}" for n in names) + f"{'target':>16}"
    spec = [("noise reduction", "noise_reduction", "{:.1%}", "≥ 75 %"), ("precision", "precision", "{:.3f}", "≥ 0.95"),
            ("recall", "recall", "{:.3f}", "≥ 0.85"), ("B-cubed precision", "bcubed_precision", "{:.3f}", ""),
            ("B-cubed recall", "bcubed_recall", "{:.3f}", ""), ("incidents", "incidents", "{}", ""),
            ("incidents/fault", "incidents_per_fault_mean", "{:.2f}", ""),
            ("max incidents/fault", "incidents_per_fault_max", "{}", ""),
            ("mixed incidents", "mixed_incidents", "{}", ""),
            ("cross-company", "cross_company_incidents", "{}", "0")]
    out = [head, "-" * len(head)]
    for label, key, pattern, target in spec:
        cells = "".join(f"{pattern.format(r[key]) if r else 'n/a':>16}" for r in rows.values())
        out.append(f"{label:<22}{cells}{target:>16}")
    return "\n".join(out)


def oracle(truth: dict[Key, dict[str, Any]]) -> dict[Key, str | None]:
    """A perfect grouping: one incident per truth group (a check of the scorer: precision = recall = 1)."""
    return {k: truth_group(r, k) for k, r in truth.items()}


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Score RESULT.jsonl against TRUTH.jsonl, next to the seeds' rule.")
    ap.add_argument("scenario", type=Path, help="directory with TRUTH.jsonl and ALERTS.jsonl")
    ap.add_argument("--result", type=Path, help="RESULT.jsonl of `alertwhisperer replay` (default: DIR/RESULT.jsonl)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the seeds' rule")
    ap.add_argument("--oracle", action="store_true", help="also score a perfect grouping built from TRUTH")
    ap.add_argument("--window", type=float, default=15.0, help="seeds' rule window in minutes")
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = ap.parse_args(argv)
    truth = load_truth(args.scenario / "TRUTH.jsonl")
    report: dict[str, dict[str, Any] | None] = {}
    result = args.result or args.scenario / "RESULT.jsonl"
    outcomes: Counter[str] = Counter()
    if result.exists():
        assign, outcomes = load_result(result)
        report["ours"] = metrics(truth, assign)
    elif args.result:
        raise SystemExit(f"{result} does not exist")
    if not args.no_baseline:
        report["seeds' rule"] = metrics(truth, seeds_rule(args.scenario / "ALERTS.jsonl", args.window))
    if args.oracle:
        report["oracle"] = metrics(truth, oracle(truth))
    if args.json:
        print(json.dumps({**report, "outcomes": dict(outcomes)}, indent=1))
        return 0
    for name, m in report.items():
        if m is not None:
            print(f"{name}:")
            print(fmt(m))
            if name == "ours" and outcomes:
                print("  outcomes               " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
            print()
    print(table(report))
    return 0
