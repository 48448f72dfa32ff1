"""Notify test fixtures: a company with people, an incident, a real SMTP server and a real webhook server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from tests.factories import make_company, make_user

SM = async_sessionmaker[AsyncSession]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    company_id: str
    other_company_id: str
    incident_id: str
    users: dict[str, str]  # role name -> user id
    emails: dict[str, str]


async def user_id(sm: SM, email: str) -> str:
    async with sm() as s:
        return str((await s.execute(select(User.id).where(User.email == email))).scalar_one())


@pytest.fixture
async def world(sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build_world(sessionmaker, settings, clock)


async def build_world(sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    """Acme Dental (two technicians, an admin; an incident) and Globex (one outsider technician); an MSP admin."""
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme Dental")
        other = await make_company(s, clock, "Globex")
        emails = {
            "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id], email="tina@acme.example"),
            "tech2": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id], email="tom@acme.example"),
            "admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id], email="ada@acme.example"),
            "msp": await make_user(s, settings, clock, Role.MSP_ADMIN, email="max@msp.example"),
            "outsider": await make_user(s, settings, clock, Role.TECHNICIAN, [other.id], email="otto@globex.example"),
        }
        incident = Incident(company_id=acme.id, title="disk on db-01", symptom="disk", severity="critical",
                            key="db-01|disk", root_asset_name="db-01", first_seen=clock.now(),
                            last_seen=clock.now(), priority=92)
        s.add(incident)
        await s.commit()
        incident_id = incident.id
    users = {k: await user_id(sessionmaker, v) for k, v in emails.items()}
    return World(acme.id, other.id, incident_id, users, emails)


def worker(sm: SM, clock: FakeClock, settings: Settings | None = None) -> Worker:
    return Worker(sm, build_registry(), clock, settings=settings)


# --- a real SMTP server ------------------------------------------------------------------------------------------
@dataclass
class SmtpSink:
    port: int
    messages: list[Envelope] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"

    def start(self, *, login: tuple[str, str] | None = None) -> None:
        """Listen; with ``login``, require that user name and password (AUTH over plain SMTP, for the test)."""
        options: dict[str, Any] = {}
        if login is not None:
            def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                             data: Any) -> AuthResult:
                ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
                return AuthResult(success=ok, handled=False)

            options = {"authenticator": authenticate, "auth_require_tls": False, "auth_required": True}
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port())
    try:
        yield sink
    finally:
        sink.stop()


def smtp_settings(settings: Settings, port: int) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
                                       "smtp_from": "Alert Whisperer <alerts@msp.example>", "smtp_timeout": 5.0,
                                       "public_url": "https://aw.msp.example"})


# --- a real HTTP server receiving JSON webhooks --------------------------------------------------------------------
@dataclass
class HookSink:
    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def hook_sink() -> Iterator[HookSink]:
    sink = HookSink(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            sink.received.append(json.loads(self.rfile.read(length) or b"{}"))
            sink.headers.append(dict(self.headers.items()))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
