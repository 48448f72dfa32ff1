"""Rendering a notification: subject, plain text and HTML (email), Markdown (Apprise), from Jinja2 templates.

One template pair per kind (``templates/<kind>.txt`` / ``.html``), ``generic`` for any other kind; all extend
``_base`` which adds the incident facts and the link to it. The context is what the delivery row stored when
the notification was made (the moment it describes), plus the server's public URL at send time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
KINDS = ("assignment", "sla_warning", "sla_breach", "escalation", "resolved", "test")
SEVERITY_COLORS = {"critical": "#dc2626", "high": "#ea580c", "medium": "#d97706", "low": "#2563eb",
                   "info": "#64748b"}


def _when(value: Any) -> str:
    """An ISO timestamp (or datetime) as ``2026-03-02 09:30 UTC``; anything else as given."""
    moment: datetime | None = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    if moment is None:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _humanize(value: str) -> str:
    return str(value).replace("_", " ").replace(":", ": ")


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=ChainableUndefined)
    env.filters.update(when=_when, humanize=_humanize)
    env.globals["severity_colors"] = SEVERITY_COLORS
    return env


_ENV = _env()


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    markdown: str


def subject_for(*, severity: str, title: str) -> str:
    """``[CRITICAL] Assigned to you: disk on db-01``."""
    return f"[{severity.upper()}] {title}"[:300]


def link_for(public_url: str, *, incident_id: str | None, url: str | None) -> str:
    base = public_url.rstrip("/")
    if incident_id:
        return f"{base}/incidents/{incident_id}"
    if url:
        return url if url.startswith(("http://", "https://")) else f"{base}/{url.lstrip('/')}"
    return f"{base}/notifications"


def render(context: dict[str, Any], *, public_url: str) -> Rendered:
    """Render a delivery's stored context. Keys: kind, severity, title, body, incident (dict or None), url,
    recipient_name, extra (the caller's context)."""
    kind = context.get("kind", "")
    name = kind if kind in KINDS else "generic"
    incident = context.get("incident") or None
    values = {
        "kind": kind, "severity": context.get("severity", "info"), "title": context.get("title", ""),
        "body": context.get("body", ""), "incident": incident, "extra": context.get("extra") or {},
        "recipient_name": context.get("recipient_name", ""),
        "link": link_for(public_url, incident_id=incident["id"] if incident else None, url=context.get("url")),
        "preferences_link": f"{public_url.rstrip('/')}/notifications",
    }
    values["subject"] = subject_for(severity=values["severity"], title=values["title"])
    text_template = _ENV.get_template(f"{name}.txt")
    text = text_template.render(values)
    html = _ENV.get_template(f"{name}.html").render(values)
    intro = "".join(text_template.blocks["intro"](text_template.new_context(values))).strip()
    markdown = _ENV.get_template("chat.md").render({**values, "intro": intro})
    return Rendered(values["subject"], text, html, markdown)
