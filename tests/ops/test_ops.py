"""Operations: liveness, readiness, Prometheus metrics, request ids, secrets kept out of the logs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from alertwhisperer.config import Settings
from alertwhisperer.main import create_app
from tests.conftest import PG_HOST_URL, TEST_SECRET


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok"}


async def _readyz_for(database_url: str, tmp_path: Path) -> httpx.Response:
    settings = Settings(database_url=database_url, data_dir=tmp_path, env="test", demo=False,
                        secret_key=TEST_SECRET, embedded_worker=False)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.get("/readyz")


async def test_readyz_is_503_when_postgresql_database_is_missing(tmp_path: Path) -> None:
    r = await _readyz_for(f"{PG_HOST_URL}/aw_missing_database_for_readyz", tmp_path)
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert r.json()["database"].startswith("unreachable")


async def test_readyz_is_503_when_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    r = await _readyz_for(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/aw.db", tmp_path)
    assert r.status_code == 503


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = (await client.get("/healthz")).headers["x-request-id"]
    assert len(generated) == 32 and generated.isalnum()
    hostile = await client.get("/healthz", headers={"X-Request-ID": "x\"; DROP TABLE"})
    assert hostile.headers["x-request-id"] != "x\"; DROP TABLE"


async def test_metrics_count_requests_by_route_and_status(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get("/healthz")
    await client.get("/api/companies")  # 401
    text = (await client.get("/metrics")).text
    assert 'alertwhisperer_http_requests_total{method="GET",route="/healthz",status="200"} 3.0' in text
    assert 'alertwhisperer_http_requests_total{method="GET",route="/api/companies",status="401"} 1.0' in text
    assert "alertwhisperer_http_request_duration_seconds_bucket" in text
    assert "alertwhisperer_http_errors_total" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_api_keys_in_query_strings_never_reach_the_logs(tmp_path: Path) -> None:
    """The real server, its real logging configuration: a key passed as ?api_key= is redacted."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTWHISPERER_")}
    env.update(ALERTWHISPERER_DATA_DIR=str(tmp_path), ALERTWHISPERER_DEMO="false",
               ALERTWHISPERER_EMBEDDED_WORKER="false")
    exe = str(Path(sys.executable).parent / "alertwhisperer")
    log_file = tmp_path / "server.log"
    secret = "aw_TopSecretKeyValue0123456789abcdefXYZ"
    with log_file.open("w") as log, subprocess.Popen([exe, "serve", "--port", str(port)], stdout=log,
                                                     stderr=subprocess.STDOUT, env=env, cwd=tmp_path) as server:
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):  # wait until it listens (start-up, not a timed assertion)
                try:
                    httpx.get(f"{base}/healthz", timeout=2)
                    break
                except httpx.TransportError:
                    assert server.poll() is None, log_file.read_text()
                    time.sleep(0.1)
            r = httpx.get(f"{base}/healthz?api_key={secret}&x=1", headers={"X-Request-ID": "req-42"})
            assert r.status_code == 200
            httpx.post(f"{base}/api/webhooks/alertmanager?api_key={secret}", json={})
            httpx.get(f"{base}/api/companies?token={secret}")
        finally:
            server.terminate()
            server.wait(timeout=30)
    output = log_file.read_text()
    assert secret not in output
    assert "[redacted]" in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    requests = [entry for entry in lines if entry.get("event") == "http.request"]
    assert any(entry.get("request_id") == "req-42" and entry.get("path") == "/healthz" for entry in requests)
