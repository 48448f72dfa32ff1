"""The patch compliance console page over HTTP: empty states, summary cards and the asset table, scanning from the
page (plain form and HTMX) with progress until the scan is done, and scope."""

from __future__ import annotations

import asyncio
import html
import json
import re

import httpx
from fastapi import FastAPI

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation.patch_parsers import PatchCounts
from alertwhisperer.remediation.patch_scan import store
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import make_asset
from tests.remediation.patches_world import SM, build, local_access, run_scans

HX = {"HX-Request": "true"}


def text_of(page: str, testid: str) -> list[str]:
    found = re.findall(rf'data-testid="{testid}"[^>]*>(.*?)</', page, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", f)).strip() for f in found]


async def test_empty_states_point_to_remote_access(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> None:
    w = await build(client, sessionmaker, settings, clock)
    page = await client.get("/patches", headers=w.auth["msp"])
    assert page.status_code == 200
    assert "No asset has remote access configured" in page.text and 'data-testid="patches-empty"' in page.text
    scoped = await client.get(f"/patches?company={w.acme.id}", headers=w.auth["tech"])
    assert scoped.status_code == 200
    assert f'href="/companies/{w.acme.id}/remote-access" data-testid="setup-access"' in scoped.text
    assert (await client.get(f"/patches?company={w.acme.id}", headers=w.auth["other"])).status_code == 404
    refused = await client.post(
        f"/patches/scan?company={w.acme.id}", data={"company_id": w.acme.id}, headers=w.auth["tech"]
    )
    assert refused.status_code == 303  # nothing to scan: back to the page with the reason
    shown = await client.get(refused.headers["location"], headers=w.auth["tech"])
    assert "No asset of this company has remote access configured" in html.unescape(shown.text)


async def test_page_shows_compliance_and_scans_with_progress(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> None:
    w = await build(client, sessionmaker, settings, clock)
    async with sessionmaker() as s:
        here = await make_asset(s, clock, w.acme.id, "aw-host")
        old = await make_asset(s, clock, w.acme.id, "legacy-01")
        await make_asset(s, clock, w.acme.id, "printer-01")  # no access: counted as "without remote access"
        await local_access(s, settings, clock, here.id)
        await local_access(s, settings, clock, old.id)
        await store(
            s,
            asset_id=old.id,
            company_id=w.acme.id,
            source="local",
            now=clock.now(),
            outcome=PatchCounts(
                source="apt",
                installed=500,
                missing=7,
                critical=0,
                security=3,
                details={
                    "severity_reported": False,
                    "os": "Debian GNU/Linux 11",
                    "packages": [
                        {"name": "openssl", "version": "1.1.1w-0+deb11u2", "from": "1.1.1w-0+deb11u1", "security": True}
                    ],
                },
            ),
        )
        await store(
            s,
            asset_id=old.id,
            company_id=w.acme.id,
            source="local",
            now=clock.now(),
            outcome="could not reach the host: connection refused",
        )
        await s.commit()
    url = f"/patches?company={w.acme.id}"
    page = await client.get(url, headers=w.auth["tech"])
    assert page.status_code == 200
    assert text_of(page.text, "patch-percent") == ["0%"]
    assert text_of(page.text, "patch-security") == ["3"]
    assert text_of(page.text, "patch-status") == ["Never scanned", "Non-compliant"]
    assert text_of(page.text, "patch-error") == ["could not reach the host: connection refused"]
    assert "1 without remote access" in page.text and "openssl" in page.text and ">n/a<" in page.text
    assert 'data-testid="scan-company"' in page.text and page.text.count('data-testid="scan-asset"') == 2
    assert "every 4s" not in page.text

    plain = await client.post(
        url.replace("/patches", "/patches/scan"), data={"asset_id": old.id}, headers=w.auth["tech"]
    )
    assert plain.status_code == 303 and plain.headers["location"] == url
    subscription = app.state.hub.listen()
    hx = await client.post(
        url.replace("/patches", "/patches/scan"), data={"company_id": w.acme.id}, headers={**w.auth["tech"], **HX}
    )
    assert hx.status_code == 200
    scanning = await asyncio.wait_for(subscription.__anext__(), 1)
    subscription.close()
    assert (scanning.type, scanning.data["name"]) == ("patch.scanning", "aw-host")
    assert scanning.data["origin"]  # the requesting page shows its own toast, not the live echo
    flash = json.loads(hx.headers["HX-Trigger"])["aw-flash"]
    assert flash == {
        "message": "Scanning aw-host. Results appear here as each scan finishes. 1 other was already "
        "scanned this hour.",
        "kind": "success",
    }
    assert text_of(hx.text, "patch-status") == ["Scanning…", "Scanning…"]
    assert "every 4s" in hx.text and "<html" not in hx.text  # polls while scanning; a fragment, not a page

    await run_scans(app, sessionmaker, clock, settings)
    body = await client.get(f"/patches/_body?company={w.acme.id}", headers=w.auth["tech"])
    assert body.status_code == 200 and "every 4s" not in body.text
    statuses = text_of(body.text, "patch-status")
    assert statuses[0] in ("Compliant", "Non-compliant") and statuses[1] in ("Compliant", "Non-compliant")
    assert text_of(body.text, "patch-error") == []  # the new scan over the local executor worked
    again = await client.post(
        url.replace("/patches", "/patches/scan"), data={"asset_id": here.id}, headers={**w.auth["tech"], **HX}
    )
    assert json.loads(again.headers["HX-Trigger"])["aw-flash"]["kind"] == "info"
    assert "from 10:00 UTC" in json.loads(again.headers["HX-Trigger"])["aw-flash"]["message"]
