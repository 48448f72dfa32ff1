"""After a scenario: check through the database that every acknowledged alert is stored exactly once."""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ingest_bench.loadgen import Result
from ingest_bench.scenarios import Scenario


@dataclass
class Check:
    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def expect(self, condition: bool, text: str) -> None:
        self.ok = self.ok and condition
        self.lines.append(("ok      " if condition else "FAILED  ") + text)


def verify(db_path: Path, scenario: Scenario, result: Result) -> Check:
    check = Check()
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        like = "hdr:" + scenario.prefix + "%"
        rows = conn.execute(
            "SELECT d.id, d.idempotency_key, (SELECT count(*) FROM alerts a WHERE a.delivery_id = d.id) "
            "FROM deliveries d WHERE d.idempotency_key LIKE ?", (like,)).fetchall()
        dup_keys = conn.execute(
            "SELECT count(*) FROM (SELECT idempotency_key FROM deliveries WHERE idempotency_key LIKE ? "
            "GROUP BY idempotency_key HAVING count(*) > 1)", (like,)).fetchone()[0]
        dup_positions = conn.execute(
            "SELECT count(*) FROM (SELECT a.delivery_id, a.position FROM alerts a JOIN deliveries d "
            "ON d.id = a.delivery_id WHERE d.idempotency_key LIKE ? GROUP BY a.delivery_id, a.position "
            "HAVING count(*) > 1)", (like,)).fetchone()[0]
        pending_jobs = conn.execute("SELECT count(*) FROM jobs WHERE kind = 'ingest.process' AND status IN "
                                    "('pending', 'running')").fetchone()[0]
    finally:
        conn.close()
    stored = {r[0]: r[2] for r in rows}
    acked = result.new_ids
    acked_set = set(acked)
    check.expect(bool(result.latencies), f"the server answered ({len(result.latencies)} answers)")
    check.expect(len(acked) == len(acked_set), f"202 answers name distinct deliveries ({len(acked)} answers)")
    missing = [d for d in acked_set if d not in stored]
    check.expect(not missing, f"every 202 delivery is stored ({len(missing)} missing)")
    wrong = sum(1 for d in acked_set if d in stored and stored[d] != scenario.alerts_per_request)
    check.expect(wrong == 0, f"each stored delivery has exactly {scenario.alerts_per_request} alert(s) "
                             f"({wrong} wrong)")
    check.expect(dup_keys == 0, f"no X-Delivery-ID stored twice ({dup_keys} duplicated)")
    check.expect(dup_positions == 0, f"no alert stored twice within a delivery ({dup_positions})")
    unacked = len(set(stored) - acked_set)
    if scenario.repeat:
        check.expect(len(stored) == 1, f"one delivery stored for the repeated X-Delivery-ID ({len(stored)})")
        others = Counter(d for d in result.repeat_ids if d not in stored)
        check.expect(not others, "every 200 answer names the one stored delivery")
    else:
        gave_up = result.sent - len(result.latencies)  # timed out / cut off: stored or not, never answered
        check.expect(unacked <= gave_up, f"stored deliveries without a 2xx answer: {unacked} (allowed: only "
                                         f"among the {gave_up} requests the generator gave up on)")
    total_alerts = sum(stored.values())
    check.lines.append(f"        stored: {len(stored)} deliveries, {total_alerts} alerts; "
                       f"inbox jobs still pending: {pending_jobs}")
    return check
