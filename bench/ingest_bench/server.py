"""Start ``alertwhisperer serve`` on its embedded default (SQLite in a temporary data directory) as a
separate process, with one imported company whose rate limits are raised through the API."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADMIN_EMAIL = "bench-admin@example.org"
ADMIN_PASSWORD = "bench-password-0123456789"  # a throwaway database
COMPANY_SLUG = "bench-co"
HIGH_LIMITS = {"rate_limit_per_minute": 10_000_000, "burst": 1_000_000}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli() -> list[str]:
    """The project's own command: next to this interpreter, else the repository's .venv, else PATH."""
    repo_venv = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "alertwhisperer"
    for exe in (Path(sys.executable).with_name("alertwhisperer"), repo_venv):
        if exe.exists():
            return [str(exe)]
    found = shutil.which("alertwhisperer")
    if found is None:
        raise RuntimeError("alertwhisperer command not found: run with the project's .venv/bin/python")
    return [found]


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    api_key: str
    company_id: str
    log_path: Path
    keep: bool

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "alertwhisperer.db"

    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def start(extra_env: dict[str, str] | None = None, keep: bool = False) -> Server:
    data_dir = Path(tempfile.mkdtemp(prefix="aw-bench-"))
    env = {**os.environ, "ALERTWHISPERER_DATA_DIR": str(data_dir), "ALERTWHISPERER_DEMO": "false",
           "ALERTWHISPERER_ENV": "development", "ALERTWHISPERER_LOG_JSON": "true",
           "ALERTWHISPERER_LOG_LEVEL": "INFO", **(extra_env or {})}
    env.pop("ALERTWHISPERER_DATABASE_URL", None)
    cli = _cli()
    companies = data_dir / "companies.json"
    companies.write_text(json.dumps({"companies": [{"name": "Bench Co", "slug": COMPANY_SLUG}]}))
    keys = data_dir / "keys.json"
    run = {"env": env, "check": True, "capture_output": True, "timeout": 120}
    subprocess.run([*cli, "import", str(companies), "--keys-out", str(keys)], **run)  # type: ignore[call-overload]
    subprocess.run([*cli, "create-admin", "--email", ADMIN_EMAIL, "--name", "Bench Admin",  # type: ignore[call-overload]
                    "--password", ADMIN_PASSWORD], **run)
    api_key = json.loads(keys.read_text())[COMPANY_SLUG]
    port = _free_port()
    log_path = data_dir / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([*cli, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    server = Server(proc, data_dir, port, api_key, "", log_path, keep)
    deadline = time.monotonic() + 60
    while True:
        try:
            _http("GET", base + "/readyz")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"server did not start; see {log_path}") from None
            time.sleep(0.2)
    token = _http("POST", base + "/api/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    companies_out = _http("GET", base + "/api/companies", token=token["access_token"])
    company = next(c for c in companies_out if c["slug"] == COMPANY_SLUG)
    _http("PATCH", f"{base}/api/companies/{company['id']}", {"settings": {"ingest": HIGH_LIMITS}},
          token=token["access_token"])
    server.company_id = company["id"]
    return server
