"""End to end with a real Prometheus Alertmanager: alerts posted to its API reach our webhook as firing,
then as resolved.

Alertmanager (Debian ``prometheus-alertmanager``; ``scripts/setup --dev`` installs it) runs on loopback
with clustering off and a webhook receiver pointing at the company's URL, configured as our integration
guide says: the API key travels as ``Authorization: Bearer aw_…`` via ``http_config.authorization``
(Alertmanager 0.22+; Debian bookworm ships 0.25).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ingest.serverproc import (
    ServerProcess,
    create_admin,
    free_port,
    import_companies,
    login,
    wait_until,
)

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
ADMIN = "am-e2e@msp.example"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager not installed (scripts/setup --dev)"),
]


def _config(url: str, api_key: str) -> str:
    http_config = ("        http_config:\n          authorization:\n            type: Bearer\n"
                   f"            credentials: \"{api_key}\"\n")
    # resolve_timeout stays long: alerts posted without endsAt must not resolve by themselves; the test
    # resolves them explicitly. group_wait/group_interval are short so notifications go out at once.
    return f"""\
global:
  resolve_timeout: 5m
route:
  receiver: aw
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: aw
    webhook_configs:
      - url: "{url}"
        send_resolved: true
        max_alerts: 0
{http_config}"""


class Alertmanager:
    def __init__(self, workdir: Path, config: str) -> None:
        assert ALERTMANAGER is not None
        self.workdir = workdir
        (workdir / "data").mkdir()
        (workdir / "alertmanager.yml").write_text(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "alertmanager.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([
                ALERTMANAGER, f"--config.file={workdir / 'alertmanager.yml'}",
                f"--storage.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=", "--log.level=debug",
            ], cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"alertmanager exited:\n{self.log_tail()}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5)
        assert response.status_code == 200, response.text

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    data = tmp_path / "aw"
    data.mkdir()
    keys = import_companies(data, [{"name": "Acme Corp", "slug": "acme", "assets": [
        {"name": "acme-db-01", "type": "database", "ip": "10.1.0.5"}]}])
    create_admin(data, ADMIN)
    srv = ServerProcess(data)
    try:
        srv.start()
        yield srv, keys["acme"]
    finally:
        srv.stop()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_alertmanager_alerts_arrive_firing_then_resolved(server: tuple[ServerProcess, str], tmp_path: Path) -> None:
    srv, api_key = server
    token = login(srv.url, ADMIN)
    webhook = f"{srv.url}/api/webhooks/alertmanager"
    am_dir = tmp_path / "am"
    am_dir.mkdir()
    config = _config(webhook, api_key)
    am = Alertmanager(am_dir, config)
    try:
        wait_until(am.ready, timeout=15, what="alertmanager /-/ready")
        run = uuid.uuid4().hex[:8]  # keeps this run's alerts apart from anything else
        started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        wanted = {
            f"DiskFull{run}": ("acme-db-01:9100", "critical", "critical"),
            f"HighLoad{run}": ("acme-app-01:9100", "warning", "medium"),
        }
        firing = [{"labels": {"alertname": name, "instance": instance, "severity": severity, "job": "node"},
                   "annotations": {"summary": f"{name} on {instance}"},
                   "startsAt": _iso(started), "generatorURL": "http://prometheus.local/graph"}
                  for name, (instance, severity, _) in wanted.items()]
        am.post_alerts(firing)

        client = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}, timeout=5)

        def ours(status: str) -> dict[str, dict[str, Any]]:
            response = client.get("/api/alerts", params={"limit": 500})
            assert response.status_code == 200, response.text
            return {a["signature"]: a for a in response.json()
                    if a["source"] == "alertmanager" and a["signature"] in wanted and a["status"] == status}

        got = wait_until(lambda: (found := ours("firing")) and len(found) == len(wanted) and found,
                         timeout=15, interval=0.2, what=f"firing alerts via Alertmanager\n{am.log_tail()}")
        for name, (instance, severity, canonical) in wanted.items():
            alert = got[name]
            assert alert["asset_ref"] == instance
            assert alert["severity"] == canonical
            assert alert["original_severity"] == severity
            assert alert["labels"] == {"alertname": name, "instance": instance, "severity": severity, "job": "node"}
            assert alert["message"] == f"{name} on {instance}"
            assert alert["external_id"]  # Alertmanager's fingerprint
            assert datetime.fromisoformat(alert["occurred_at"]) == started

        ended = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        am.post_alerts([{**a, "endsAt": _iso(ended)} for a in firing])
        resolved = wait_until(lambda: (found := ours("resolved")) and len(found) == len(wanted) and found,
                              timeout=15, interval=0.2, what=f"resolved alerts via Alertmanager\n{am.log_tail()}")
        for name, (instance, _, canonical) in wanted.items():
            alert = resolved[name]
            assert alert["asset_ref"] == instance
            assert alert["severity"] == canonical
            assert alert["external_id"] == got[name]["external_id"]  # the same alert, now resolved
            assert datetime.fromisoformat(alert["occurred_at"]) == ended  # our endsAt, not a timeout
        client.close()
    finally:
        am.stop()
