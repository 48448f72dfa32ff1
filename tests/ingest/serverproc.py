"""The real ``alertwhisperer`` server as a subprocess on a free loopback port (SQLite in a data directory).

Used by the end-to-end tests that need a real process: one that a real Alertmanager can post to, and one
that can be killed with SIGKILL and started again on the same data.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent / "alertwhisperer"
ADMIN_PASSWORD = "E2e-Ingest-Passw0rd!x"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "condition",
               describe: Callable[[], str] | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` (and ``describe()``, the state at
    the deadline) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            state = describe() if describe else f"last: {last!r}"
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} ({state})")
        time.sleep(interval)


def server_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "ALERTWHISPERER_DATA_DIR": str(data_dir), "ALERTWHISPERER_DEMO": "false",
           "ALERTWHISPERER_ENV": "development", "ALERTWHISPERER_LOG_JSON": "false",
           "ALERTWHISPERER_EMBEDDED_WORKER": "true"}
    for name in ("ALERTWHISPERER_DATABASE_URL", "ALERTWHISPERER_REDIS_URL", "ALERTWHISPERER_SECRET_KEY",
                 "ALERTWHISPERER_PUBLIC_URL"):
        env.pop(name, None)
    env.update(extra or {})
    return env


def cli(data_dir: Path, *args: str, timeout: float = 60) -> str:
    """Run one ``alertwhisperer`` command against the data directory; its stdout (fails loudly)."""
    done = subprocess.run([str(BIN), *args], env=server_env(data_dir), cwd=data_dir, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"alertwhisperer {' '.join(args[:1])} failed ({done.returncode}):\n"
                             f"{done.stdout}\n{done.stderr}")
    return done.stdout


def import_companies(data_dir: Path, companies: list[dict[str, Any]]) -> dict[str, str]:
    """Import companies with the CLI; returns {slug: API key} as written by ``--keys-out``."""
    source = data_dir / "import.json"
    source.write_text(json.dumps({"companies": companies}))
    keys = data_dir / "keys.json"
    cli(data_dir, "import", str(source), "--keys-out", str(keys))
    loaded: dict[str, str] = json.loads(keys.read_text())
    return loaded


def create_admin(data_dir: Path, email: str, password: str = ADMIN_PASSWORD) -> None:
    cli(data_dir, "create-admin", "--email", email, "--name", "E2E Admin", "--password", password)


class ServerProcess:
    """``alertwhisperer serve`` on 127.0.0.1; start() waits for /readyz. The log is kept in the data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "alertwhisperer.db"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"server-{self.starts}.log"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"

    def start(self, *, port: int | None = None, timeout: float = 30) -> ServerProcess:
        """Start (again, on the same data directory). Keeps the port of an earlier start unless told."""
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        for attempt in range(3):
            self.port = port or self.port or free_port()
            self.starts += 1
            with self.log_path.open("wb") as out:
                self.proc = subprocess.Popen([str(BIN), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                             env=server_env(self.data_dir), cwd=self.data_dir, stdout=out,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait_ready(timeout):
                return self
            if "address already in use" in self.log_tail().lower() and attempt < 2 and port is None:
                self.port = 0  # lost the race for the free port: pick another
                continue
            raise AssertionError(f"server did not become ready:\n{self.log_tail()}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_ready(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        return False

    def sigkill(self) -> None:
        """SIGKILL, as a crash would: no shutdown hooks, no flushing, connections cut (does not wait)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL and wait until the process is gone."""
        self.sigkill()
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), SIGKILL when it does not stop in time. Safe to call twice."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


def login(url: str, email: str, password: str = ADMIN_PASSWORD) -> str:
    """A Bearer access token for the API."""
    response = httpx.post(f"{url}/api/auth/login", json={"email": email, "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token
