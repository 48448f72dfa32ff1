#!/usr/bin/env python3
"""Which incidents mix truth groups, and through which joins: a reading aid for wrong merges.

    bench/correlation/mixed.py DIR [--result RESULT.jsonl] [--top 20]

For each mixed incident (largest number of wrong pairs first): its truth groups (kind, asset, check, first
event) and every row that brought a *new* truth group into it (the engine's reason).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from scoring import load_truth, pairs, read_jsonl, truth_group  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", type=Path)
    ap.add_argument("--result", type=Path)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--joins", action="store_true",
                    help="list the wrong joins and merges in order (needs rows with raw_incident and merged, as "
                         "engine_speed.py --result writes)")
    args = ap.parse_args(argv)
    if args.joins:
        return joins(args)
    truth = load_truth(args.scenario / "TRUTH.jsonl")
    rows = read_jsonl(args.result or args.scenario / "RESULT.jsonl")
    lines = read_jsonl(args.scenario / "ALERTS.jsonl")
    by_incident: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("incident_id") and r["outcome"] not in ("suppressed", "rejected"):
            by_incident[r["incident_id"]].append(r)
    report = []
    wrong_total = 0
    kinds: Counter[tuple[str, str]] = Counter()
    for incident, members in by_incident.items():
        groups = Counter(truth_group(truth[(r["line"], r["index"])], (r["line"], r["index"])) for r in members)
        if len(groups) < 2:
            continue
        wrong = pairs(sum(groups.values())) - sum(pairs(n) for n in groups.values())
        wrong_total += wrong
        report.append((wrong, incident, members, groups))
    report.sort(key=lambda x: -x[0])
    for wrong, _incident, members, _groups in report:
        ks = sorted({truth[(r["line"], r["index"])]["kind"] for r in members})
        kinds[(ks[0], ks[-1])] += wrong
    print(f"mixed incidents {len(report)}, wrong pairs {wrong_total}")
    print("wrong pairs by kinds mixed: " + ", ".join(f"{a}+{b} {n}" for (a, b), n in kinds.most_common(12)))
    for wrong, incident, members, groups in report[:args.top]:
        print(f"\n== {incident}: {wrong} wrong pairs, {len(members)} alerts, groups {dict(groups)}")
        seen: set[str] = set()
        for r in members:
            t = truth[(r["line"], r["index"])]
            g = truth_group(t, (r["line"], r["index"]))
            if g in seen:
                continue
            seen.add(g)
            at = lines[r["line"]]["received_at"][11:19]
            print(f"  {at} {g:<28} {t['kind']:<14} {t['asset']:<12} {t['check']:<16} {r['outcome']:<12} "
                  f"{r['reason'][:150]}")
    return 0


def joins(args: argparse.Namespace) -> int:
    """Replay the decisions: every join that brings a new truth group into an incident, and every merge of
    incidents holding different groups, with the rule and the reason."""
    truth = load_truth(args.scenario / "TRUTH.jsonl")
    rows = read_jsonl(args.result or args.scenario / "RESULT.jsonl")
    lines = read_jsonl(args.scenario / "ALERTS.jsonl")
    parent: dict[str, str] = {}
    groups: dict[str, set[str]] = defaultdict(set)

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    def describe(g: set[str]) -> str:
        return ",".join(sorted(g)[:3]) + ("..." if len(g) > 3 else "")

    by_rule: Counter[str] = Counter()
    events = []
    blame: dict[frozenset[str], int] = {}  # pair of truth groups -> the event that first put them together
    sizes: dict[tuple[str, str], int] = Counter()  # (final incident, group) -> alerts
    for r in rows:
        if r.get("incident_id") and r["outcome"] not in ("suppressed", "rejected"):
            sizes[(r["incident_id"], truth_group(truth[(r["line"], r["index"])], (r["line"], r["index"])))] += 1

    def together(a: set[str], b: set[str]) -> None:
        for x in a:
            for y in b:
                if x != y:
                    blame.setdefault(frozenset((x, y)), len(events))
    for r in rows:
        raw = r.get("raw_incident")
        if not raw or r["outcome"] in ("suppressed", "rejected"):
            continue
        t = truth[(r["line"], r["index"])]
        g = truth_group(t, (r["line"], r["index"]))
        root = find(raw)
        for m in r.get("merged") or []:
            other = find(m)
            if other == root:
                continue
            if groups[other] != groups[root]:
                by_rule["merge:" + r.get("rule", "?")] += 1
                together(groups[other], groups[root])
                events.append((r, t, f"MERGE {describe(groups[other])} into {describe(groups[root])}"))
            parent[other] = root
            groups[root] |= groups.pop(other, set())
        if groups[root] and g not in groups[root]:
            by_rule["join:" + r.get("rule", "?")] += 1
            together({g}, groups[root])
            events.append((r, t, f"JOIN {g} into {describe(groups[root])}"))
        groups[root].add(g)
    final_of = {g: inc for (inc, g) in sizes}
    cost: Counter[int] = Counter()
    for pair, event in blame.items():
        x, y = sorted(pair)
        if final_of.get(x) is not None and final_of.get(x) == final_of.get(y):
            cost[event] += sizes[(final_of[x], x)] * sizes[(final_of[y], y)]
    by_cost: Counter[str] = Counter()
    for event, n in cost.items():
        r = events[event][0]
        by_cost[("merge:" if events[event][2].startswith("MERGE") else "join:") + r.get("rule", "?")] += n
    print("wrong joins/merges by rule: " + ", ".join(f"{k} {n}" for k, n in by_rule.most_common()))
    print("wrong pairs by rule of the event that first joined them: " + ", ".join(
        f"{k} {n}" for k, n in by_cost.most_common()))
    order = sorted(range(len(events)), key=lambda e: -cost[e])
    for e in order[:args.top]:
        r, t, what = events[e]
        print(f"[{cost[e]} pairs]", end=" ")
        at = lines[r["line"]]["received_at"][11:19]
        print(f"{at} {t['company']} {t['kind']}/{t['asset']}/{t['check']} {r['outcome']} [{r.get('rule')}] {what}"
              f"\n    {r['reason'][:300]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
