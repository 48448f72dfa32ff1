"""Integration guides per tool (Jinja2 Markdown templates in ingest/guides/) and the "send test alert"
path, which runs a sample payload of the tool through the real parser and the durable ingest path."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.errors import NotFound
from alertwhisperer.ingest import adapters
from alertwhisperer.ingest import service as ingest
from alertwhisperer.tenants.models import Company

GUIDES = Path(__file__).parent / "guides"
SAMPLES = Path(__file__).parent / "samples"
KEY_PLACEHOLDER = "<your company API key: aw_…>"


@dataclass(frozen=True)
class Integration:
    key: str
    name: str
    description: str
    webhook_url: str
    retries_on_429: bool
    has_sample: bool


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def guide_path(key: str) -> Path:
    return GUIDES / f"{key}.md"


def sample_path(key: str) -> Path:
    return SAMPLES / f"{key}.json"


def webhook_url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/api/webhooks/{key}"


def list_integrations(base_url: str) -> list[Integration]:
    out = []
    for key in adapters.all_keys():
        adapter = adapters.get(key)
        if adapter is None:
            continue
        info = adapter.INFO
        out.append(
            Integration(
                info.key,
                info.name,
                info.description,
                webhook_url(base_url, key),
                info.retries_on_429,
                sample_path(key).exists(),
            )
        )
    return out


def render_guide(key: str, *, base_url: str, company_name: str, api_key: str | None = None) -> str:
    """The tool's guide with this company's real URL filled in (Markdown)."""
    if adapters.get(key) is None or not guide_path(key).exists():
        raise NotFound(f"no integration guide for {key!r}")
    template = _env().from_string(guide_path(key).read_text())
    rendered: str = template.render(
        webhook_url=webhook_url(base_url, key),
        api_key_placeholder=api_key or KEY_PLACEHOLDER,
        company_name=company_name,
        base_url=base_url.rstrip("/"),
    )
    return rendered


def guide_html(markdown: str) -> str:
    html: str = _markdown().render(markdown)
    return html


async def send_test_alert(
    session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str, key: str
) -> ingest.Accepted:
    """Run the tool's sample payload through its adapter and the durable ingest path, as a delivery of this
    company marked as a test. Proves parse -> store -> inbox -> live channel without the sender."""
    actor.require_company_admin(company_id, "send test alerts")
    company = await session.get(Company, company_id)
    if company is None:
        raise NotFound("company not found")
    path = sample_path(key)
    if adapters.get(key) is None or not path.exists():
        raise NotFound(f"no test sample for {key!r}")
    body = path.read_bytes()
    headers = {
        "content-type": "application/json",
        "x-delivery-id": f"test-{uuid.uuid4().hex}",
        "user-agent": "alertwhisperer-test-alert",
    }
    result = ingest.parse(key, body, headers)
    tagged = result.model_copy(
        update={"alerts": [a.model_copy(update={"labels": {**a.labels, "aw_test": "true"}}) for a in result.alerts]}
    )
    accepted = await ingest.accept(
        session, clock=clock, company=company, source=key, body=body, headers=headers, result=tagged
    )
    await audit.record(
        session,
        clock=clock,
        actor=actor,
        action="integration.test_alert_sent",
        company_id=company_id,
        target_type="integration",
        target_id=key,
        details={"delivery_id": accepted.delivery_id, "alerts": len(accepted.alert_ids)},
    )
    return accepted


def sample_preview(key: str) -> str:
    path = sample_path(key)
    return json.dumps(json.loads(path.read_bytes()), indent=2)[:4000] if path.exists() else ""
