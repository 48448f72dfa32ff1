"""The advisor's prompt (small and factual: the incident's facts and the candidate list) and the strict parsing
of its answer: one JSON object ``{"runbook": <slug or null>, "rationale": <text>, "confidence": <0..1>}``."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alertwhisperer.remediation.advisor.base import Advice, AdvisorError

MAX_ANSWER_TOKENS = 300
MAX_RATIONALE = 500

SYSTEM = (
    "You help an MSP's remediation engine pick a runbook for an IT incident. You get the incident's facts and "
    "the runbooks whose triggers matched it, ranked by the rules. Pick the one most likely to fix the cause "
    "safely, or null if none fits. You only suggest: approvals and risk rules apply whatever you say. Answer "
    'with one JSON object and nothing else: {"runbook": "<slug from the list or null>", '
    '"rationale": "<one or two sentences>", "confidence": <number from 0 to 1>}'
)


def facts_text(facts: dict[str, Any], candidates: list[dict[str, Any]]) -> str:
    """The user message: the facts and the candidates as compact JSON."""
    listed = [
        {
            "slug": c.get("slug"),
            "title": c.get("title"),
            "risk": c.get("risk"),
            "description": str(c.get("description") or "")[:300],
            "rules_score": c.get("score"),
            "why": c.get("why", []),
        }
        for c in candidates
    ]
    return json.dumps({"incident": facts, "candidates": listed}, sort_keys=True, default=str)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    runbook: str | None
    rationale: str = ""
    confidence: float = Field(ge=0, le=1)


def _unfenced(text: str) -> str:
    """The text without a surrounding Markdown code fence (```json ... ```), which models add out of habit."""
    body = text.strip()
    if body.startswith("```") and body.endswith("```") and len(body) >= 6:
        body = body[3:-3].strip()
        if body.lower().startswith("json"):
            body = body[4:]
    return body.strip()


def parse_advice(text: str) -> Advice:
    """The advice in the model's answer; ``AdvisorError`` unless it is exactly the JSON object asked for."""
    try:
        raw = json.loads(_unfenced(text))
    except ValueError as exc:
        raise AdvisorError(f"the answer is not JSON: {text[:120]!r}") from exc
    if not isinstance(raw, dict):
        raise AdvisorError("the answer is not a JSON object")
    if isinstance(raw.get("confidence"), int) and not isinstance(raw.get("confidence"), bool):
        raw["confidence"] = float(raw["confidence"])
    try:
        answer = _Answer.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors())
        raise AdvisorError(f"the answer does not have the expected shape ({problems})") from exc
    slug = answer.runbook.strip() if answer.runbook else None
    return Advice(
        runbook_slug=slug or None, rationale=answer.rationale.strip()[:MAX_RATIONALE], confidence=answer.confidence
    )
