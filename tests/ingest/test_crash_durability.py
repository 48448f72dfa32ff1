"""Crash durability: SIGKILL the server during webhook load, start it again on the same data, and check that
every delivery answered 2xx is stored exactly once with exactly the alerts it reported, that retries of the
requests cut off by the crash create no duplicates, and that the inbox left pending is processed on start.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ingest.serverproc import ServerProcess, create_admin, import_companies, login, wait_until

pytestmark = pytest.mark.slow

ADMIN = "crash-e2e@msp.example"
SENDERS = 8  # concurrent client threads
BATCH = 20  # alerts in one Alertmanager body
LOAD_BEFORE_KILL = 1.5  # seconds of load before the SIGKILL (at least MIN_ACKED_BEFORE_KILL answered)
MIN_ACKED_BEFORE_KILL = 100
KILL_WINDOW = 3.0


@dataclass
class Request:
    """One webhook delivery as a sender holds it: the same X-Delivery-ID and body on every attempt."""

    key: str
    source: str
    body: bytes
    alerts: int
    outcomes: list[str] = field(default_factory=list)  # one per attempt: "2xx", "503", "ReadError", ...
    answer: dict[str, Any] | None = None  # the first 2xx answer

    def send(self, client: httpx.Client, api_key: str) -> None:
        try:
            response = client.post(f"/api/webhooks/{self.source}", content=self.body, headers={
                "X-API-Key": api_key, "X-Delivery-ID": self.key, "Content-Type": "application/json"})
        except httpx.TransportError as exc:  # refused, reset, cut off mid-answer: outcome unknown
            self.outcomes.append(type(exc).__name__)
            return
        if response.is_success:
            self.outcomes.append("2xx")
            body = response.json()
            if self.answer is None:
                self.answer = body
            else:  # a repeat must answer with the original delivery and alert ids
                assert response.status_code == 200 and body["duplicate"], body
                assert (body["delivery_id"], body["alert_ids"]) == (
                    self.answer["delivery_id"], self.answer["alert_ids"]), (self.key, body, self.answer)
            return
        assert response.status_code >= 500, f"{self.source} {response.status_code}: {response.text}"
        self.outcomes.append(str(response.status_code))  # temporary: a real sender retries

    @property
    def acked(self) -> bool:
        return self.answer is not None


def generic_request(n: int) -> Request:
    key = f"gen-{uuid.uuid4().hex}"
    body = {"asset_name": f"crash-srv-{n % 40:02d}", "signature": f"disk_full_{n}", "severity": "high",
            "message": f"crash test alert {n}", "tool_source": "bench"}
    return Request(key, "generic", json.dumps(body).encode(), 1)


def alertmanager_request(n: int) -> Request:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    alerts = [{"status": "firing", "labels": {"alertname": f"CrashLoad{n}", "instance": f"crash-node-{i}:9100",
                                              "severity": "warning"},
               "annotations": {"summary": f"batch {n} alert {i}"}, "startsAt": now,
               "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"{n:08x}{i:08x}"} for i in range(BATCH)]
    body = {"version": "4", "groupKey": f"{{}}:{{alertname=\"CrashLoad{n}\"}}", "status": "firing",
            "receiver": "aw", "groupLabels": {"alertname": f"CrashLoad{n}"}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager.local", "truncatedAlerts": 0,
            "alerts": alerts}
    return Request(f"am-{uuid.uuid4().hex}", "alertmanager", json.dumps(body).encode(), BATCH)


class Load:
    """SENDERS threads posting new deliveries (every 4th an Alertmanager batch) until stopped."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key
        self.stop = threading.Event()
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._n = 0
        self.threads = [threading.Thread(target=self._send_loop, daemon=True) for _ in range(SENDERS)]

    def _next(self) -> Request:
        with self._lock:
            self._n += 1
            n = self._n
        request = alertmanager_request(n) if n % 4 == 0 else generic_request(n)
        self.requests.append(request)
        return request

    def _send_loop(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=10) as client:
                while not self.stop.is_set():
                    self._next().send(client, self.api_key)
        except BaseException as exc:  # e.g. a 4xx answer: reported by join(), not lost in the thread
            self.errors.append(exc)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def acked(self) -> int:
        return sum(1 for r in list(self.requests) if r.acked)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)
            assert not thread.is_alive(), "a sender thread hung"
        assert not self.errors, self.errors


def read_db(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    data = tmp_path / "aw"
    data.mkdir()
    keys = import_companies(data, [{"name": "Crash Test Co", "slug": "crashco"}])
    create_admin(data, ADMIN)
    srv = ServerProcess(data)
    try:
        srv.start()
        # This test is about crashes, not the rate limiter: lift the company's limits (kept in the database).
        auth = {"Authorization": f"Bearer {login(srv.url, ADMIN)}"}
        companies = httpx.get(f"{srv.url}/api/companies", headers=auth, timeout=10).json()
        company_id = next(c["id"] for c in companies if c["slug"] == "crashco")
        response = httpx.patch(f"{srv.url}/api/companies/{company_id}", headers=auth, timeout=10, json={
            "settings": {"ingest": {"rate_limit_per_minute": 1_000_000, "burst": 100_000}}})
        assert response.status_code == 200, response.text
        yield srv, keys["crashco"]
    finally:
        srv.stop()


def test_sigkill_during_load_loses_and_duplicates_nothing(server: tuple[ServerProcess, str]) -> None:
    srv, api_key = server
    load = Load(srv.url, api_key)
    load.start()
    began = time.monotonic()
    wait_until(lambda: load.acked() >= MIN_ACKED_BEFORE_KILL and time.monotonic() - began >= LOAD_BEFORE_KILL,
               timeout=20, interval=0.02, what=f"{MIN_ACKED_BEFORE_KILL} acknowledged deliveries")
    # Kill while the inbox worker holds a claimed job when we can catch one (the harder case: its lease
    # outlives the process), else after KILL_WINDOW more seconds of load anyway.
    busy = "SELECT 1 FROM jobs WHERE kind = 'ingest.process' AND status = 'running' LIMIT 1"
    deadline = time.monotonic() + KILL_WINDOW
    while not read_db(srv.db_path, busy) and time.monotonic() < deadline:
        time.sleep(0.002)
    srv.sigkill()
    load.stop.set()  # a sender whose server is gone stops sending (and retries later)
    srv.kill()
    phases = {"load": time.monotonic() - began}
    assert srv.proc is not None and srv.proc.returncode == -9, srv.proc and srv.proc.returncode
    load.join()

    requests = load.requests
    acked_before = [r for r in requests if r.acked]
    cut_off = [r for r in requests if not r.acked]
    assert len(acked_before) >= MIN_ACKED_BEFORE_KILL
    assert cut_off, "the kill cut no request off (load did not reach the crash)"
    pending_at_crash = read_db(srv.db_path, "SELECT count(*) FROM deliveries WHERE status != 'processed'")[0][0]
    leased_at_crash = read_db(srv.db_path, "SELECT count(*) FROM jobs WHERE status = 'running'")[0][0]

    mark = time.monotonic()
    srv.start()  # same data directory, same port
    phases["restart"] = time.monotonic() - mark
    mark = time.monotonic()

    def retry(request: Request) -> None:  # a real sender: same X-Delivery-ID, same body, until a 2xx
        with httpx.Client(base_url=srv.url, timeout=10) as client:
            for _ in range(5):
                request.send(client, api_key)
                if request.acked:
                    return
                time.sleep(0.2)

    def repeat(request: Request) -> None:  # a sender that lost our answer, or a replaying proxy
        with httpx.Client(base_url=srv.url, timeout=10) as client:
            request.send(client, api_key)  # asserts a 200 duplicate with the original ids
        assert request.outcomes[-1] == "2xx", (request.key, request.outcomes)

    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(retry, cut_off))
        assert [r.key for r in cut_off if not r.acked] == [], "retries after the restart still fail"
        # Deliveries acknowledged before the crash, and the retried ones, are remembered: repeats create nothing.
        list(pool.map(repeat, acked_before[:: max(1, len(acked_before) // 25)] + cut_off))

    phases["retries"] = time.monotonic() - mark
    mark = time.monotonic()
    # The inbox left behind by the crash (and the retries) is processed after the restart.
    db = srv.db_path

    def unfinished() -> list[tuple[Any, ...]]:
        return read_db(db, "SELECT 'delivery', status, NULL, count(*) FROM deliveries WHERE status != 'processed' "
                           "GROUP BY status UNION ALL SELECT kind, status, lease_expires_at, count(*) FROM jobs "
                           "WHERE status != 'done' AND kind = 'ingest.process' GROUP BY kind, status, lease_expires_at")

    wait_until(lambda: not unfinished(), timeout=60, interval=0.2,  # a liveness bound, not a speed target
               what="every delivery processed and every inbox job done after the restart",
               describe=lambda: f"unfinished: {unfinished()}")

    phases["inbox"] = time.monotonic() - mark
    deliveries = {row[0]: row for row in read_db(
        db, "SELECT json_extract(headers, '$.\"x-delivery-id\"'), id, alert_ids, idempotency_key, status, source "
            "FROM deliveries")}
    keys_per_delivery = Counter(row[0] for row in read_db(
        db, "SELECT json_extract(headers, '$.\"x-delivery-id\"') FROM deliveries"))
    assert [k for k, n in keys_per_delivery.items() if n > 1] == [], "a delivery was stored twice"
    assert set(deliveries) == {r.key for r in requests}, "stored deliveries differ from the ones sent"

    alerts_by_delivery: dict[str, list[str]] = {}
    for delivery_id, alert_id in read_db(db, "SELECT delivery_id, id FROM alerts ORDER BY delivery_id, position"):
        alerts_by_delivery.setdefault(delivery_id, []).append(alert_id)
    idempotency = dict(read_db(db, "SELECT key, delivery_id FROM idempotency_keys"))
    jobs: Counter[str] = Counter()  # inbox jobs per delivery; a job carries one delivery or a group-commit batch
    for (payload,) in read_db(db, "SELECT payload FROM jobs WHERE kind = 'ingest.process'"):
        data = json.loads(payload)
        jobs.update(data["delivery_ids"] if "delivery_ids" in data else [data["delivery_id"]])

    for request in requests:
        assert request.answer is not None
        _, delivery_id, alert_ids, idem_key, status, source = deliveries[request.key]
        assert delivery_id == request.answer["delivery_id"], request.key
        assert json.loads(alert_ids) == request.answer["alert_ids"], request.key
        assert alerts_by_delivery.get(delivery_id, []) == request.answer["alert_ids"], request.key
        assert len(request.answer["alert_ids"]) == request.alerts, request.key
        assert (source, idem_key, status) == (request.source, f"hdr:{request.key}", "processed")
        assert idempotency[idem_key] == delivery_id
        assert jobs[delivery_id] == 1, f"{jobs[delivery_id]} inbox jobs for {request.key}"
    total_alerts = read_db(db, "SELECT count(*) FROM alerts")[0][0]
    assert total_alerts == sum(r.alerts for r in requests), "alerts stored that no delivery reported"
    assert sum(jobs.values()) == len(requests)

    outcomes = Counter(o for r in requests for o in r.outcomes)
    print(f"\ncrash test: {len(requests)} deliveries ({sum(r.alerts for r in requests)} alerts); "
          f"{len(acked_before)} acked before the kill, {len(cut_off)} cut off and retried "
          f"({sum(1 for r in cut_off if r.answer and r.answer['duplicate'])} had been stored before the kill); "
          f"{pending_at_crash} deliveries unprocessed and {leased_at_crash} jobs leased by the dead process at the "
          f"crash; attempts {dict(outcomes)}; seconds {({k: round(v, 1) for k, v in phases.items()})}")
