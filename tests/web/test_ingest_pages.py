"""Alerts and Integrations pages over HTTP (no browser): filters, scope, guides, test alerts, signing, heartbeats."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.ingest.models import Alert, Delivery, Heartbeat, WebhookSecret
from tests.factories import MadeCompany, bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]
KEY_RE = re.compile(r"aw_[A-Za-z0-9_\-]{20,}")
SECRET_RE = re.compile(r"whsec_[A-Za-z0-9_\-]{20,}")
HX_LIST = {"HX-Request": "true", "HX-Target": "alerts-list"}


async def _post_alert(client: httpx.AsyncClient, company: MadeCompany, **fields: Any) -> str:
    body = {"asset_name": "srv-app-01", "signature": "cpu_high", "severity": "high", "message": "CPU above 90%",
            "tool_source": "pytest", **fields}
    r = await client.post("/api/webhooks/generic", json=body, headers={"X-API-Key": company.api_key})
    assert r.status_code == 202, r.text
    alert_id: str = r.json()["alert_ids"][0]
    return alert_id


async def _world(client: httpx.AsyncClient, sm: SM, settings: Settings,
                 clock: FakeClock) -> tuple[MadeCompany, MadeCompany, dict[str, dict[str, str]]]:
    async with sm() as s:
        acme = await make_company(s, clock, "Acme Dental")
        globex = await make_company(s, clock, "Globex Hidden")
        emails = {"admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
                  "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
                  "msp": await make_user(s, settings, clock, Role.MSP_ADMIN)}
    return acme, globex, {role: bearer(await login(client, email)) for role, email in emails.items()}


async def test_alerts_page_filters_search_and_scope(client: httpx.AsyncClient, sessionmaker: SM,
                                                    settings: Settings, clock: FakeClock) -> None:
    acme, globex, auth = await _world(client, sessionmaker, settings, clock)
    disk = await _post_alert(client, acme, signature="disk_full", severity="critical", asset_name="db-01",
                             message="Disk /var at 99%", labels={"team": "dba"})
    clock.advance(seconds=5)
    await _post_alert(client, acme, signature="cpu_high", severity="high", asset_name="app-02", status="resolved")
    hidden = await _post_alert(client, globex, signature="globex_secret_sig", severity="critical")
    tech = auth["tech"]

    everything = await client.get("/alerts", headers=tech)
    assert everything.status_code == 200
    assert "disk_full" in everything.text and "cpu_high" in everything.text
    assert "globex_secret_sig" not in everything.text and "Globex Hidden" not in everything.text
    assert everything.text.index("cpu_high") < everything.text.index("disk_full")  # newest first
    assert 'data-testid="alerts-total">2<' in everything.text

    critical = await client.get("/alerts", params={"severity": "critical"}, headers=tech)
    assert "disk_full" in critical.text and 'data-signature="cpu_high"' not in critical.text
    resolved = await client.get("/alerts", params={"status": "resolved", "tool": "generic"}, headers=tech)
    assert 'data-signature="cpu_high"' in resolved.text and 'data-signature="disk_full"' not in resolved.text
    by_asset = await client.get("/alerts", params={"asset": "DB-0"}, headers=tech)
    assert 'data-signature="disk_full"' in by_asset.text and 'data-signature="cpu_high"' not in by_asset.text
    search = await client.get("/alerts", params={"q": "/var at"}, headers=tech)
    assert 'data-signature="disk_full"' in search.text and 'data-signature="cpu_high"' not in search.text
    nothing = await client.get("/alerts", params={"q": "100%_no_such"}, headers=tech)
    assert "No alerts match these filters" in nothing.text

    # the HTMX partial: the list only, and the address bar gets the clean filter URL
    partial = await client.get("/alerts", params={"severity": "critical", "q": ""},
                               headers={**tech, **HX_LIST, "HX-Trigger": "alert-filters"})
    assert partial.status_code == 200 and "<html" not in partial.text and 'id="alerts-list"' in partial.text
    assert partial.headers["HX-Push-Url"] == "/alerts?severity=critical"
    live = await client.get("/alerts?severity=critical", headers={**tech, **HX_LIST, "HX-Trigger": "alerts-list"})
    assert "HX-Push-Url" not in live.headers  # a live refresh does not touch the history

    # another company's alert does not exist for this technician
    assert (await client.get(f"/alerts/{hidden}", headers=tech)).status_code == 404
    other = await client.get("/alerts", params={"company_id": globex.id}, headers=tech)
    assert other.status_code == 404 and "globex_secret_sig" not in other.text
    msp = await client.get("/alerts", params={"company_id": ""}, headers=auth["msp"])
    assert "globex_secret_sig" in msp.text and "Acme Dental" in msp.text

    detail = await client.get(f"/alerts/{disk}", headers=tech)
    assert detail.status_code == 200
    async with sessionmaker() as s:
        delivery_id = (await s.get(Alert, disk)).delivery_id  # type: ignore[union-attr]
    assert delivery_id in detail.text
    assert re.search(r"<td[^>]*>team</td><td[^>]*>dba</td>", detail.text)
    assert "&#34;signature&#34;: &#34;disk_full&#34;" in detail.text  # the raw body, pretty-printed
    assert acme.api_key not in detail.text


async def test_alerts_empty_state_points_at_integrations(client: httpx.AsyncClient, sessionmaker: SM,
                                                         settings: Settings, clock: FakeClock) -> None:
    acme, _, auth = await _world(client, sessionmaker, settings, clock)
    r = await client.get("/alerts", headers=auth["admin"])
    assert "No alerts yet" in r.text and f'href="/companies/{acme.id}/integrations"' in r.text
    dash = await client.get("/", headers=auth["admin"])
    assert 'data-testid="kpi-alerts">0<' in dash.text
    await _post_alert(client, acme, signature="backup_failed", severity="critical")
    dash = await client.get("/", headers=auth["admin"])
    assert 'data-testid="kpi-alerts">1<' in dash.text and "backup_failed" in dash.text and "1 critical" in dash.text


async def test_integrations_guide_shows_the_url_never_the_key(client: httpx.AsyncClient, sessionmaker: SM,
                                                              settings: Settings, clock: FakeClock) -> None:
    acme, globex, auth = await _world(client, sessionmaker, settings, clock)
    for who in ("tech", "admin"):
        index = await client.get(f"/companies/{acme.id}/integrations", headers=auth[who])
        assert index.status_code == 200
        assert index.text.count('class="tool-card"') == 16
        assert "needs 503" in index.text and "retries 429" in index.text
        assert not KEY_RE.search(index.text) and acme.company.api_key_prefix in index.text
    guide = await client.get(f"/companies/{acme.id}/integrations/alertmanager", headers=auth["tech"])
    assert guide.status_code == 200
    assert "http://testserver/api/webhooks/alertmanager" in guide.text
    assert 'class="code-block"' in guide.text and "data-copy=\"#guide-code-1\"" in guide.text
    assert not KEY_RE.search(guide.text) and acme.api_key not in guide.text
    assert "Send test alert" not in guide.text  # a technician reads guides but does not send
    admin_guide = await client.get(f"/companies/{acme.id}/integrations/alertmanager", headers=auth["admin"])
    assert 'data-testid="send-test-alert"' in admin_guide.text
    assert (await client.get(f"/companies/{acme.id}/integrations/nosuchtool", headers=auth["tech"])).status_code == 404
    assert (await client.get(f"/companies/{globex.id}/integrations", headers=auth["admin"])).status_code == 404


async def test_send_test_alert_creates_a_delivery(client: httpx.AsyncClient, sessionmaker: SM,
                                                  settings: Settings, clock: FakeClock) -> None:
    acme, globex, auth = await _world(client, sessionmaker, settings, clock)
    url = f"/companies/{acme.id}/integrations/generic/test"
    refused = await client.post(url, headers=auth["tech"])
    assert refused.status_code == 403
    assert (await client.post(f"/companies/{globex.id}/integrations/generic/test",
                              headers=auth["admin"])).status_code == 404
    r = await client.post(url, headers={**auth["admin"], "HX-Request": "true"})
    assert r.status_code == 200 and "Test alert stored: 1 alert" in r.text and "Alerts page" in r.text
    plain = await client.post(f"/companies/{acme.id}/integrations/alertmanager/test", headers=auth["admin"])
    assert plain.status_code == 303
    async with sessionmaker() as s:
        deliveries = (await s.execute(select(Delivery).where(Delivery.company_id == acme.id))).scalars().all()
        assert sorted(d.source for d in deliveries) == ["alertmanager", "generic"]
        labels = (await s.execute(select(Alert.labels).where(Alert.company_id == acme.id))).scalars().all()
        assert labels and all(lab.get("aw_test") == "true" for lab in labels)
    listing = await client.get("/alerts", params={"tool": "generic"}, headers=auth["tech"])
    assert ">test</span>" in listing.text


async def test_signing_secret_is_shown_once_and_admin_only(client: httpx.AsyncClient, sessionmaker: SM,
                                                          settings: Settings, clock: FakeClock) -> None:
    acme, _, auth = await _world(client, sessionmaker, settings, clock)
    url = f"/companies/{acme.id}/webhook-secret"
    assert (await client.post(url, headers=auth["tech"])).status_code == 403
    before = await client.get(f"/companies/{acme.id}/integrations", headers=auth["tech"])
    assert 'data-testid="signing-status">not configured' in before.text
    assert 'data-testid="rotate-secret"' not in before.text
    created = await client.post(url, headers=auth["admin"])
    assert created.status_code == 200
    secrets_shown = set(SECRET_RE.findall(created.text))
    assert len(secrets_shown) == 1 and "you will not see it again" in created.text
    assert f'data-replace-url="/companies/{acme.id}/integrations"' in created.text
    after = await client.get(f"/companies/{acme.id}/integrations", headers=auth["admin"])
    assert not SECRET_RE.search(after.text) and 'data-testid="signing-status">configured' in after.text
    rotated = await client.post(url, headers=auth["admin"])
    new = set(SECRET_RE.findall(rotated.text))
    assert len(new) == 1 and new != secrets_shown and "previous secret keeps working until" in rotated.text
    assert (await client.post(f"{url}/delete", headers=auth["tech"])).status_code == 403
    removed = await client.post(f"{url}/delete", headers=auth["admin"])
    assert removed.status_code == 303
    async with sessionmaker() as s:
        assert await s.get(WebhookSecret, acme.id) is None


async def test_heartbeats_create_with_inline_errors_and_delete(client: httpx.AsyncClient, sessionmaker: SM,
                                                               settings: Settings, clock: FakeClock) -> None:
    acme, _, auth = await _world(client, sessionmaker, settings, clock)
    url = f"/companies/{acme.id}/heartbeats"
    assert (await client.post(url, headers=auth["tech"], data={"name": "cron", "interval_seconds": "300"})
            ).status_code == 403
    bad = await client.post(url, headers=auth["admin"], data={"name": "bad name!", "interval_seconds": "5"})
    assert bad.status_code == 422
    assert 'id="name-error"' in bad.text and 'id="interval_seconds-error"' in bad.text
    assert 'value="bad name!"' in bad.text  # the form keeps what was typed
    ok = await client.post(url, headers=auth["admin"], data={"name": "nightly-backup", "interval_seconds": "3600",
                                                             "grace_seconds": "300"})
    assert ok.status_code == 303
    dup = await client.post(url, headers=auth["admin"], data={"name": "nightly-backup", "interval_seconds": "60"})
    assert dup.status_code == 422 and re.search(r'id="name-error"[^>]*>[^<]*already exists', dup.text)
    page = await client.get(f"/companies/{acme.id}/integrations", headers=auth["tech"])
    row = re.search(r'<tr data-heartbeat="nightly-backup">.*?</tr>', page.text, re.S)
    assert row and "waiting" in row.group(0) and "every 1 h" in row.group(0) and "+5 min grace" in row.group(0)
    assert "/api/heartbeats/nightly-backup?api_key=&lt;API key&gt;" in row.group(0)
    assert "/delete" not in row.group(0)  # technicians see no delete button
    assert (await client.post(f"{url}/nightly-backup/delete", headers=auth["tech"])).status_code == 403
    gone = await client.post(f"{url}/nightly-backup/delete", headers=auth["admin"])
    assert gone.status_code == 303
    async with sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(Heartbeat))).scalar_one() == 0
