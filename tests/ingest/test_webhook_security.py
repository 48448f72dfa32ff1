"""HMAC signatures (window, replay, rotation grace, encryption at rest) and per-sender rate limiting."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.ingest.models import Delivery, WebhookSecret
from alertwhisperer.ingest.signing import sign
from tests.factories import MadeCompany, bearer, login, make_company, make_user

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BODY = (FIXTURES / "alertmanager" / "firing.json").read_bytes()


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
                clock: FakeClock) -> tuple[MadeCompany, dict[str, str]]:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        admin = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
    return acme, bearer(await login(client, admin))


async def _rotate(client: httpx.AsyncClient, company: MadeCompany, auth: dict[str, str]) -> str:
    r = await client.post(f"/api/companies/{company.id}/webhook-secret", headers=auth)
    assert r.status_code == 200, r.text
    secret: str = r.json()["secret"]
    return secret


async def _deliveries(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as s:
        return int((await s.execute(select(func.count()).select_from(Delivery))).scalar_one())


def _signed(key: str, secret: str, ts: int, body: bytes = BODY) -> dict[str, str]:
    return {"X-API-Key": key, "X-Timestamp": str(ts), "X-Signature": sign(secret, ts, body)}


async def test_signed_request_accepted_and_secret_encrypted_at_rest(
        client: httpx.AsyncClient, world: tuple[MadeCompany, dict[str, str]], clock: FakeClock,
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    acme, auth = world
    secret = await _rotate(client, acme, auth)
    async with sessionmaker() as s:
        row = await s.get(WebhookSecret, acme.id)
    assert row is not None and secret not in row.secret_enc
    ts = int(clock.now().timestamp())
    r = await client.post("/api/webhooks/alertmanager", content=BODY, headers=_signed(acme.api_key, secret, ts))
    assert r.status_code == 202, r.text
    status = await client.get(f"/api/companies/{acme.id}/webhook-secret", headers=auth)
    assert status.json()["configured"] is True and "secret" not in status.json()


@pytest.mark.parametrize(("mutate", "code", "words"), [
    (lambda h, ts: {**h, "X-Signature": "sha256=" + "0" * 64}, 401, "does not match"),
    (lambda h, ts: {**h, "X-Timestamp": str(ts - 301), "X-Signature": h["sig_old"]}, 401, "window"),
    (lambda h, ts: {**h, "X-Timestamp": str(ts + 301), "X-Signature": h["sig_new"]}, 401, "window"),
    (lambda h, ts: {**h, "X-Timestamp": "yesterday"}, 401, "unix seconds"),
])
async def test_bad_signatures_refused(client: httpx.AsyncClient, world: tuple[MadeCompany, dict[str, str]],
                                      clock: FakeClock, sessionmaker: async_sessionmaker[AsyncSession],
                                      mutate, code: int, words: str) -> None:  # type: ignore[no-untyped-def]
    acme, auth = world
    secret = await _rotate(client, acme, auth)
    ts = int(clock.now().timestamp())
    headers = _signed(acme.api_key, secret, ts)
    headers["sig_old"] = sign(secret, ts - 301, BODY)
    headers["sig_new"] = sign(secret, ts + 301, BODY)
    sent = {k: v for k, v in mutate(headers, ts).items() if not k.startswith("sig_")}
    r = await client.post("/api/webhooks/alertmanager", content=BODY, headers=sent)
    assert r.status_code == code and words in r.json()["message"], r.text
    assert await _deliveries(sessionmaker) == 0


async def test_tampered_body_and_replay_refused(client: httpx.AsyncClient,
                                                world: tuple[MadeCompany, dict[str, str]], clock: FakeClock,
                                                sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    acme, auth = world
    secret = await _rotate(client, acme, auth)
    ts = int(clock.now().timestamp())
    headers = _signed(acme.api_key, secret, ts)
    tampered = await client.post("/api/webhooks/alertmanager", content=BODY.replace(b"firing", b"resolved"),
                                 headers=headers)
    assert tampered.status_code == 401
    first = await client.post("/api/webhooks/alertmanager", content=BODY, headers=headers)
    clock.advance(seconds=10)
    replay = await client.post("/api/webhooks/alertmanager", content=BODY, headers=headers)
    assert (first.status_code, replay.status_code) == (202, 409)
    assert "replay" in replay.json()["message"]
    assert await _deliveries(sessionmaker) == 1


async def test_required_signature_and_rotation_grace(client: httpx.AsyncClient,
                                                     world: tuple[MadeCompany, dict[str, str]],
                                                     clock: FakeClock) -> None:
    acme, auth = world
    old = await _rotate(client, acme, auth)
    unsigned = await client.post("/api/webhooks/alertmanager", content=BODY, headers={"X-API-Key": acme.api_key})
    assert unsigned.status_code == 202  # optional until required
    r = await client.patch(f"/api/companies/{acme.id}", headers=auth,
                           json={"settings": {"ingest": {"require_signature": True}}})
    assert r.status_code == 200, r.text
    unsigned = await client.post("/api/webhooks/alertmanager", content=BODY, headers={"X-API-Key": acme.api_key})
    assert unsigned.status_code == 401 and "requires signed" in unsigned.json()["message"]
    new = await _rotate(client, acme, auth)
    for n, secret in enumerate((old, new)):
        ts = int(clock.now().timestamp()) + n
        r = await client.post("/api/webhooks/alertmanager", content=BODY, headers=_signed(acme.api_key, secret, ts))
        assert r.status_code == 202, (n, r.text)
    clock.advance(hours=24, seconds=1)
    ts = int(clock.now().timestamp())
    expired = await client.post("/api/webhooks/alertmanager", content=BODY, headers=_signed(acme.api_key, old, ts))
    assert expired.status_code == 401


async def test_technician_cannot_manage_secrets(client: httpx.AsyncClient,
                                                world: tuple[MadeCompany, dict[str, str]],
                                                sessionmaker: async_sessionmaker[AsyncSession],
                                                settings: Settings, clock: FakeClock) -> None:
    acme, _ = world
    async with sessionmaker() as s:
        tech = await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])
    r = await client.post(f"/api/companies/{acme.id}/webhook-secret", headers=bearer(await login(client, tech)))
    assert r.status_code == 403


@pytest.mark.parametrize(("source", "body", "limited_status"), [
    ("alertmanager", BODY, 503),  # Alertmanager drops any 4xx: answer 503 so it retries
    ("generic", b'{"asset_name": "db-01", "signature": "disk_full", "severity": "high", "message": "95%",'
                b' "tool_source": "script"}', 429),
])
async def test_rate_limit_answers_so_the_sender_retries(app: FastAPI, client: httpx.AsyncClient,
                                                        world: tuple[MadeCompany, dict[str, str]],
                                                        sessionmaker: async_sessionmaker[AsyncSession],
                                                        source: str, body: bytes, limited_status: int) -> None:
    acme, auth = world
    r = await client.patch(f"/api/companies/{acme.id}", headers=auth,
                           json={"settings": {"ingest": {"rate_limit_per_minute": 3, "burst": 100}}})
    assert r.status_code == 200
    await app.state.limiter.reset()
    codes = [(await client.post(f"/api/webhooks/{source}", content=body, headers={"X-API-Key": acme.api_key}))
             for _ in range(5)]
    assert [c.status_code for c in codes] == [202, 202, 202, limited_status, limited_status]
    assert int(codes[3].headers["Retry-After"]) >= 1
    assert await _deliveries(sessionmaker) == 3


async def test_default_limits_let_a_500_alert_storm_through(app: FastAPI, client: httpx.AsyncClient,
                                                            world: tuple[MadeCompany, dict[str, str]],
                                                            sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    acme, _ = world
    await app.state.limiter.reset()
    generic = b'{"asset_name": "db-01", "signature": "disk_full", "severity": "high", ' \
              b'"message": "disk 95%", "tool_source": "script"}'
    statuses = {(await client.post("/api/webhooks/generic", content=generic,
                                   headers={"X-API-Key": acme.api_key})).status_code for _ in range(200)}
    assert statuses == {202}  # 200 single-alert requests in one burst: all accepted under the defaults
