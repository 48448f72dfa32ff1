"""An approver approves a pending medium-risk run in real headless Chromium against a real server process and
watches its output arrive: the run is requested by a technician over the API (a company runbook printing a line
every half second, on an asset with local executor access), the company admin approves it in the approvals inbox
with a note, lands on the execution's page, and sees line-1 before line-5 exists, then line-5, then "Succeeded" —
the server's embedded worker runs the job; the test drives nothing but the browser."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.web.conftest import LiveServer, browser, live_server  # noqa: F401  (fixtures)
from tests.web.test_browser import SHOTS, _api_token

pytestmark = pytest.mark.browser
PASSWORD = "Approve-The-Slow-Lines-42"
RUNBOOK = """\
name: slow-lines
title: Print five lines slowly
category: diagnostics
risk: medium
steps:
  linux:
    - name: Count
      run: for i in 1 2 3 4 5; do echo line-$i; sleep 0.5; done
"""
# what the page saw, and when: every output piece as it was added to the DOM (the stored ones included)
RECORDER = """
window.__pieces = [];
new MutationObserver(function (records) {
  records.forEach(function (r) {
    r.addedNodes.forEach(function (n) {
      if (n.nodeType === 1 && n.dataset && n.dataset.seq && n.closest && n.closest('#ex-output')) {
        window.__pieces.push({seq: +n.dataset.seq, text: n.textContent, at: performance.now()});
      }
    });
  });
}).observe(document, {childList: true, subtree: true});
document.addEventListener('DOMContentLoaded', function () {
  window.__initial = Array.prototype.map.call(document.querySelectorAll('#ex-output [data-seq]'),
                                              function (n) { return +n.dataset.seq; });
});
"""


def _api(server: LiveServer, method: str, path: str, token: str, **kwargs: Any) -> Any:
    r = httpx.request(method, f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs)
    assert r.status_code in (200, 201), f"{method} {path}: {r.status_code} {r.text}"
    return r.json()


def _setup(server: LiveServer) -> tuple[str, str]:
    """A company with an asset reachable by the local executor, a runbook of its own, a company admin and a
    technician; the technician asks for the run. Returns (the admin's email, the execution id)."""
    token = _api_token(server)
    tag = f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:4]}"
    company = _api(server, "POST", "/api/companies", token, json={"name": "Northwind Clinics", "slug": f"nw-{tag}"})
    emails = {role: f"{role}-{tag}@northwind.example" for role in ("company_admin", "technician")}
    for role, email in emails.items():
        _api(
            server,
            "POST",
            "/api/users",
            token,
            json={
                "email": email,
                "name": "Ada Approver" if role == "company_admin" else "Tom Technician",
                "role": role,
                "password": PASSWORD,
                "company_ids": [company["id"]],
            },
        )
    asset = _api(server, "POST", f"/api/companies/{company['id']}/assets", token, json={"name": f"nw-web-{tag}"})
    _api(server, "PUT", f"/api/assets/{asset['id']}/access", token, json={"executor": "local"})
    runbook = _api(server, "POST", "/api/runbooks", token, json={"yaml": RUNBOOK, "company_id": company["id"]})
    r = httpx.post(
        f"{server.url}/api/auth/login", json={"email": emails["technician"], "password": PASSWORD}, timeout=10
    )
    r.raise_for_status()
    tech = r.json()["access_token"]
    run = _api(server, "POST", "/api/executions", tech, json={"runbook_id": runbook["id"], "asset_id": asset["id"]})
    assert run["status"] == "pending_approval", run
    return emails["company_admin"], run["id"]


async def test_approver_approves_and_watches_the_output_arrive(
    browser: Browser,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
) -> None:
    admin_email, run_id = _setup(live_server)
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live_server.url)
    await context.add_init_script(RECORDER)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    await page.goto("/approvals")
    await page.fill("#email", admin_email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")

    request = page.locator(f"#request-{run_id}")
    await expect(request).to_contain_text("Print five lines slowly")
    await request.locator("[data-testid=note]").fill("Checked with the clinic: go ahead")
    await request.locator("[data-testid=approve]").click()

    await expect(page).to_have_url(f"{live_server.url}/executions/{run_id}")
    output = page.locator("#ex-output")
    await expect(output).to_contain_text("line-1")
    text = await output.inner_text()
    assert "line-5" not in text, f"line-1 and line-5 arrived together, nothing was watched: {text!r}"
    await expect(page.locator("#ex-live")).to_have_attribute("data-state", "live")
    await expect(output).to_contain_text("line-5")
    await expect(page.locator("[data-testid=execution-status]")).to_have_text("Succeeded")
    await expect(page.locator("#ex-live")).to_have_attribute("data-state", "done")
    await expect(page.locator("[data-testid=approver-name]")).to_contain_text("Ada Approver")
    await expect(page.locator("[data-testid=approval-note]")).to_have_text("Checked with the clinic: go ahead")
    await expect(page.locator("[data-testid=execution-exit-code]")).to_have_text("0")

    # every line once, in order; at least the later ones were appended live, after the page loaded
    final = await output.inner_text()
    positions = [final.index(f"line-{n}") for n in range(1, 6)]
    assert positions == sorted(positions) and all(final.count(f"line-{n}\n") == 1 for n in range(1, 6))
    pieces = await page.evaluate("window.__pieces")
    seqs = [p["seq"] for p in pieces]
    assert seqs == sorted(set(seqs)), f"pieces shown twice or out of order: {seqs}"
    line5 = next(p["seq"] for p in pieces if "line-5" in p["text"])
    assert line5 not in await page.evaluate("window.__initial"), "line-5 was rendered by the server, not streamed"
    await page.screenshot(path=f"{SHOTS}/aw-execution-live-output.png", full_page=True)
    await context.close()
