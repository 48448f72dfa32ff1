"""A real server process for the browser tests (SQLite in a temporary data directory)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "alertwhisperer"
ADMIN_EMAIL = "owner@msp-browser.example"
ADMIN_PASSWORD = "Browser-Test-Passw0rd!"


@dataclass(frozen=True)
class LiveServer:
    url: str
    email: str
    password: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("browser-data")
    env = {**os.environ, "ALERTWHISPERER_DATA_DIR": str(data), "ALERTWHISPERER_DEMO": "false",
           "ALERTWHISPERER_ENV": "development", "ALERTWHISPERER_LOG_JSON": "false",
           "ALERTWHISPERER_ADMIN_PASSWORD": ADMIN_PASSWORD}
    env.pop("ALERTWHISPERER_DATABASE_URL", None)
    subprocess.run([str(BIN), "create-admin", "--email", ADMIN_EMAIL, "--name", "Olivia Owner"],
                   env=env, cwd=data, check=True, capture_output=True, timeout=60)
    port = _free_port()
    log = data / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(BIN), "serve", "--port", str(port)], env=env, cwd=data, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready in time:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield LiveServer(url, ADMIN_EMAIL, ADMIN_PASSWORD, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CHROMIUM = "/usr/bin/chromium"  # Debian's package (Playwright's own download does not work here)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium for one test module."""
    async with async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield chromium
        finally:
            await chromium.close()
