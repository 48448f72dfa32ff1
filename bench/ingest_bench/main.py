"""bench/ingest: webhook ingestion throughput and latency against a real server process over loopback.

The server runs as ``alertwhisperer serve`` (embedded default: SQLite WAL in a temporary data directory,
one HTTP process and its job worker as a child process at lower CPU priority, JSON request logs to a
file; ``--web-processes N --redis-url URL`` runs the scale-out shape instead); this process generates
the load (see loadgen.py) and verifies the database afterwards. Every run stops by itself: each scenario
is bounded by --duration, the whole run by a watchdog alarm.

By default every scenario gets its own fresh server (``--server fresh``): an empty database and no backlog, so a
figure measures that scenario and not the half-million alerts the previous one left for the worker to correlate.
``--server shared`` runs them one after the other against one server (the harsher sequence).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from ingest_bench import scenarios, server
from ingest_bench.loadgen import Result, percentile, run_closed, run_open
from ingest_bench.verify import verify

SCENARIOS: dict[str, Callable[[str, int, str, str], scenarios.Scenario]] = {
    "a": scenarios.generic, "b": scenarios.alertmanager, "c": scenarios.repeat, "open": scenarios.open_loop,
}
TARGETS = {"a": "target >= 2,000 alerts/s", "b": "target >= 20,000 alerts/s", "c": "target >= 5,000/s",
           "open": "target p99 <= 100 ms at 1,500/s"}


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/ingest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load per scenario (default 20)")
    p.add_argument("--scenario", action="append", choices=[*SCENARIOS, "all"],
                   help="a, b, c, open (repeatable; default all)")
    p.add_argument("--concurrency", type=int, default=64, help="connections in closed-loop scenarios (64)")
    p.add_argument("--rate", type=float, default=1500.0, help="requests/s in the open-loop scenario (1500)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load first (2)")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory and server log")
    p.add_argument("--server", choices=("fresh", "shared"), default="fresh",
                   help="fresh: a new server (empty database) per scenario (default); shared: one for all")
    p.add_argument("--web-processes", type=int, default=1,
                   help="HTTP server processes (serve --workers; above 1 needs --redis-url); default 1, the "
                        "embedded default")
    p.add_argument("--redis-url", default=None, help="Redis for rate limits and live events, e.g. "
                                                     "redis://127.0.0.1:6379/3 (default: none, embedded)")
    return p.parse_args(argv)


def _cpu_seconds(pid: int) -> float:
    """User+system CPU of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU seconds spent busy by the whole machine so far."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """The process and its descendants (the server's HTTP processes and its job worker)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _is_job_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().split(b"\0")
    except OSError:
        return False
    return b"worker" in args and b"--parent-pid" in args


@dataclass
class CpuSample:
    server: dict[int, float]  # HTTP server processes
    worker: dict[int, float]  # the job worker process (correlation)
    generator: float
    machine: float

    @classmethod
    def take(cls, pid: int) -> CpuSample:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        server: dict[int, float] = {}
        worker: dict[int, float] = {}
        for p in _tree(pid):
            try:
                (worker if _is_job_worker(p) else server)[p] = _cpu_seconds(p)
            except OSError:
                continue
        return cls(server, worker, usage.ru_utime + usage.ru_stime, _machine_busy())


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(p, 0.0) for p, v in after.items())


def _cpu_line(before: CpuSample, after: CpuSample, r: Result) -> str:
    server = _spent(before.server, after.server)
    worker = _spent(before.worker, after.worker)
    generator = after.generator - before.generator
    others = max(0.0, after.machine - before.machine - server - worker - generator)
    answered = max(1, len(r.latencies))
    return (f"   CPU (cores busy on average): server {server / r.duration:.2f} in {len(after.server)} process(es) "
            f"({server / answered * 1e6:,.0f} us/request), job worker {worker / r.duration:.2f}, "
            f"load generator {generator / r.duration:.2f}, other processes {others / r.duration:.2f} "
            f"of {os.cpu_count()}")


def _report(name: str, s: scenarios.Scenario, r: Result, target: str) -> None:
    lat = sorted(r.latencies)
    ok = r.statuses.get(202, 0) + r.statuses.get(200, 0)
    alerts = r.statuses.get(202, 0) * s.alerts_per_request
    answered = len(lat)
    print(f"\n== {s.name}  [{r.mode} loop, {r.duration:.1f} s]  ({target})")
    print(f"   requests sent {r.sent}, answered {answered}, 2xx {ok}  ->  {answered / r.duration:,.0f} req/s")
    if s.repeat:
        print(f"   idempotent repeats answered (200): {r.statuses.get(200, 0) / r.duration:,.0f}/s; "
              f"new (202): {r.statuses.get(202, 0)}")
    else:
        print(f"   new alerts acknowledged: {alerts}  ->  {alerts / r.duration:,.0f} alerts/s")
    print(f"   latency ms: p50 {percentile(lat, .5) * 1000:.1f}  p90 {percentile(lat, .9) * 1000:.1f}  "
          f"p99 {percentile(lat, .99) * 1000:.1f}  max {(lat[-1] if lat else float('nan')) * 1000:.1f}")
    errors = {k: v for k, v in sorted(r.statuses.items()) if k not in (200, 202)}
    print(f"   status counts: {dict(sorted(r.statuses.items()))}; errors by status: {errors or 'none'}; "
          f"transport errors: {dict(r.errors) or 'none'}")
    unanswered = r.sent - answered - sum(r.errors.values())
    if unanswered:
        print(f"   requests still unanswered when the generator gave up: {unanswered}")
    if r.mode == "open":
        print(f"   requests that waited for a free connection: {r.late_start}")


def _watchdog(seconds: int) -> None:
    def fire(_sig: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"benchmark exceeded its {seconds} s budget")

    signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)


def _scenario(srv: server.Server, name: str, args: argparse.Namespace, run: str) -> bool | None:
    """Run one scenario against ``srv`` and verify it; None when the server died."""
    scen = SCENARIOS[name](srv.host, srv.port, srv.api_key, run)
    if args.warmup > 0:
        warm = SCENARIOS[name](srv.host, srv.port, srv.api_key, run + "w" + name)
        asyncio.run(run_closed(srv.host, srv.port, warm.make, concurrency=min(args.concurrency, 16),
                               duration=args.warmup))
    time.sleep(0.5)
    before = CpuSample.take(srv.pid())
    if name == "open":
        result = asyncio.run(run_open(srv.host, srv.port, scen.make, rate=args.rate, duration=args.duration))
    else:
        result = asyncio.run(run_closed(srv.host, srv.port, scen.make, concurrency=args.concurrency,
                                        duration=args.duration))
    after = CpuSample.take(srv.pid())
    _report(name, scen, result, TARGETS[name])
    print(_cpu_line(before, after, result))
    check = verify(srv.db_path, scen, result)
    print("   verification (database):")
    for line in check.lines:
        print("     " + line)
    if srv.proc.poll() is not None:
        print(f"server exited with {srv.proc.returncode}; see {srv.log_path}")
        return None
    return check.ok


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    chosen = args.scenario or ["all"]
    names = list(SCENARIOS) if "all" in chosen else list(dict.fromkeys(chosen))
    _watchdog(int(len(names) * (args.duration + args.warmup + 60) + 120))
    try:
        import uvloop

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    print(f"bench/ingest: {len(names)} scenario(s) x {args.duration:.0f} s; load generator: 1 process, "
          f"raw HTTP/1.1 keep-alive on {loop_name}; closed loop with {args.concurrency} connections, "
          f"open loop at {args.rate:,.0f} req/s; host CPUs: {os.cpu_count()}")
    extra = {"ALERTWHISPERER_WEB_PROCESSES": str(args.web_processes)}
    if args.redis_url:
        extra["ALERTWHISPERER_REDIS_URL"] = args.redis_url
    shape = (f"{args.web_processes} HTTP processes, Redis {args.redis_url}" if args.web_processes > 1
             else "embedded default (1 HTTP process, no Redis)")
    run = uuid.uuid4().hex[:8]
    failed = False
    groups = [[name] for name in names] if args.server == "fresh" else [names]
    for group in groups:
        srv = server.start(extra_env=extra, keep=args.keep)
        print(f"server: pid {srv.pid()} on 127.0.0.1:{srv.port}, {shape}, SQLite in {srv.data_dir} "
              f"({'fresh for this scenario' if args.server == 'fresh' else 'shared by the scenarios'}), "
              f"limits raised to {server.HIGH_LIMITS}")
        try:
            for name in group:
                ok = _scenario(srv, name, args, run)
                if ok is None:
                    return 2
                failed = failed or not ok
        finally:
            srv.stop()
            if args.keep:
                print(f"\nkept {srv.data_dir} (server log: {srv.log_path})")
            srv.cleanup()
    print("\nverification:", "FAILED" if failed else "every acknowledged alert stored exactly once")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
