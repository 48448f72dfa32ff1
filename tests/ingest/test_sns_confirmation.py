"""SNS SubscriptionConfirmation: confirmed by a durable job only when the company allows it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.ingest import service as ingest
from alertwhisperer.ingest.schemas import ControlMessage, ParseResult
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.tenants.models import Company
from tests.factories import make_company


class FakeSns(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        FakeSns.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<ConfirmSubscriptionResponse/>")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def sns_server() -> Iterator[str]:
    FakeSns.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSns)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def _deliver_confirmation(sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock, url: str,
                                allow: bool) -> None:
    async with sessionmaker() as s:
        made = await make_company(s, clock, "Acme")
        company = await s.get(Company, made.id)
        assert company is not None
        company.settings = {**company.settings, "ingest": {**company.settings.get("ingest", {}),
                                                           "allow_sns_subscription_confirm": allow}}
        control = ControlMessage(kind="sns_subscription_confirmation",
                                 details={"subscribe_url": f"{url}/?Action=ConfirmSubscription&Token=t",
                                          "topic_arn": "arn:aws:sns:us-east-1:123456789012:alarms"})
        await ingest.accept(s, clock=clock, company=company, source="cloudwatch", body=b"{}", headers={},
                            result=ParseResult(control=control))
        await s.commit()


async def test_confirmed_when_allowed(sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock,
                                      settings: Settings, sns_server: str) -> None:
    settings.sns_confirm_host_pattern = r"^127\.0\.0\.1$"
    settings.sns_confirm_allow_http = True
    await _deliver_confirmation(sessionmaker, clock, sns_server, allow=True)
    worker = Worker(sessionmaker, build_registry(), clock, settings=settings)
    await worker.run_until_idle()
    assert FakeSns.hits == ["/?Action=ConfirmSubscription&Token=t"]
    async with sessionmaker() as s:
        actions = (await s.execute(select(AuditEntry.action))).scalars().all()
        kinds = {j.kind: j.status for j in (await s.execute(select(Job))).scalars()}
    assert "integration.sns_subscription_confirmed" in actions
    assert kinds == {"ingest.process": "done", "sns.confirm": "done"}


async def test_ignored_when_not_allowed(sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock,
                                        settings: Settings, sns_server: str) -> None:
    settings.sns_confirm_host_pattern = r"^127\.0\.0\.1$"
    settings.sns_confirm_allow_http = True
    await _deliver_confirmation(sessionmaker, clock, sns_server, allow=False)
    await Worker(sessionmaker, build_registry(), clock, settings=settings).run_until_idle()
    assert FakeSns.hits == []
    async with sessionmaker() as s:
        actions = (await s.execute(select(AuditEntry.action))).scalars().all()
    assert "integration.sns_subscription_ignored" in actions


async def test_refuses_hosts_outside_the_pattern(sessionmaker: async_sessionmaker[AsyncSession], clock: FakeClock,
                                                 settings: Settings, sns_server: str) -> None:
    settings.sns_confirm_allow_http = True  # default pattern: only sns.<region>.amazonaws.com
    await _deliver_confirmation(sessionmaker, clock, sns_server, allow=True)
    await Worker(sessionmaker, build_registry(), clock, settings=settings).run_until_idle()
    assert FakeSns.hits == []
    async with sessionmaker() as s:
        job = (await s.execute(select(Job).where(Job.kind == "sns.confirm"))).scalar_one()
    assert job.status == "dead" and "refusing" in (job.last_error or "")
