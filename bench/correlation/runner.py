"""Generate a scenario, replay it through `alertwhisperer replay`, score it next to the seeds' rule.

Exit status: 0 the replay meets every target, 1 it misses one, 2 the replay is unavailable or failed (the
seeds' rule baseline is printed anyway).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gen import generate
from scoring import TARGETS, load_result, load_truth, metrics, seeds_rule, table, verdict

CLI = Path(sys.prefix) / "bin" / "alertwhisperer"


def replay_available(cli: Path) -> tuple[bool, str]:
    if not cli.exists():
        return False, f"{cli} does not exist (is the project installed in this venv?)"
    try:
        probe = subprocess.run([str(cli), "replay", "--help"], capture_output=True, text=True, timeout=60,
                               check=False)
    except subprocess.TimeoutExpired:
        return False, "`alertwhisperer replay --help` did not answer within 60 s"
    if probe.returncode != 0:
        tail = (probe.stderr or probe.stdout).strip().splitlines()[-3:]
        return False, "`alertwhisperer replay` is not available yet: " + " / ".join(s.strip() for s in tail if s)
    return True, ""


def run_replay(cli: Path, scenario: Path, db: str | None, timeout: float) -> tuple[bool, str, float]:
    cmd = [str(cli), "replay", str(scenario / "ALERTS.jsonl"), "--tenants", str(scenario / "TENANTS.json"),
           "--out", str(scenario / "RESULT.jsonl")]
    if db:
        cmd += ["--db", db]
    started = time.monotonic()
    try:
        done = subprocess.run(cmd, timeout=timeout, check=False, cwd=scenario, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired:
        return False, f"replay exceeded {timeout:.0f} s and was stopped", time.monotonic() - started
    elapsed = time.monotonic() - started
    output = done.stdout.strip()
    if done.returncode != 0 or not (scenario / "RESULT.jsonl").exists():
        return False, f"replay failed (exit {done.returncode}):\n{output[-2000:]}", elapsed
    return True, output[-1500:], elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--companies", type=int, default=12)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--db", help="database URL for the replay (default: the replay's throwaway database)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds the replay may take (default 900)")
    ap.add_argument("--keep", type=Path, help="write the scenario and RESULT here instead of a temp dir")
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON after the table")
    args = ap.parse_args(argv)

    tmp = None
    if args.keep:
        scenario = args.keep
    else:
        tmp = tempfile.mkdtemp(prefix="aw-correlation-")
        scenario = Path(tmp)
    try:
        started = time.monotonic()
        stats = generate(args.seed, args.hours, args.companies, scenario, scale=args.scale)
        print(f"scenario seed={args.seed} hours={args.hours:g} companies={args.companies}: {stats['lines']} "
              f"deliveries, {stats['alerts']} alerts, {stats['faults']} faults, {stats['noise_alerts']} noise "
              f"alerts ({time.monotonic() - started:.1f} s) in {scenario}")
        truth = load_truth(scenario / "TRUTH.jsonl")
        report: dict[str, dict[str, Any] | None] = {"ours": None}
        ok, note = replay_available(CLI)
        status = 2
        if ok:
            ok, note, elapsed = run_replay(CLI, scenario, args.db, args.timeout)
            if ok:
                assign, outcomes = load_result(scenario / "RESULT.jsonl")
                report["ours"] = metrics(truth, assign)
                rate = stats["alerts"] / elapsed if elapsed else 0.0
                print(f"replay: {elapsed:.1f} s, {rate:,.0f} alerts/s (process wall time, includes start-up); "
                      "outcomes " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
                status = 0 if all(verdict(report["ours"]).values()) else 1
        if not ok:
            print(f"\nNOTE: {note}\n      scoring only the seeds' rule baseline.\n")
        report["seeds' rule"] = metrics(truth, seeds_rule(scenario / "ALERTS.jsonl"))
        print()
        print(table(report))
        if report["ours"] is not None:
            misses = [k for k, good in verdict(report["ours"]).items() if not good]
            print("\nours: " + ("meets every target" if not misses else "misses " + ", ".join(
                f"{k} (target {TARGETS[k]})" for k in misses)))
        if args.json:
            print(json.dumps(report, indent=1))
        return status
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
