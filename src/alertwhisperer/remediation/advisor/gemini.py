"""Google's Gemini API (``POST /v1beta/models/{model}:generateContent``; the key goes in a header, not the URL,
so it never shows up in an error or a log line that quotes the URL)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from alertwhisperer.remediation.advisor.base import Advice, AdvisorError
from alertwhisperer.remediation.advisor.client import dig, post_json
from alertwhisperer.remediation.advisor.prompt import MAX_ANSWER_TOKENS, SYSTEM, facts_text, parse_advice

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


class GeminiAdvisor:
    provider = "gemini"

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self._api_key = api_key
        self._url = (
            f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/v1beta/models/{quote(model, safe='')}:generateContent"
        )
        self._timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:
        return f"GeminiAdvisor(model={self.model!r})"

    async def advise(self, facts: dict[str, Any], candidates: list[dict[str, Any]]) -> Advice:
        body = {
            "systemInstruction": {"parts": [{"text": SYSTEM}]},
            "contents": [{"role": "user", "parts": [{"text": facts_text(facts, candidates)}]}],
            "generationConfig": {
                "temperature": 0,
                "maxOutputTokens": MAX_ANSWER_TOKENS,
                "responseMimeType": "application/json",
            },
        }
        data = await post_json(
            self._url,
            headers={"x-goog-api-key": self._api_key},
            body=body,
            seconds=self._timeout,
            transport=self._transport,
        )
        parts = dig(data, "candidates", 0, "content", "parts")
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict)) if isinstance(parts, list) else ""
        if not text.strip():
            raise AdvisorError("the answer has no text")
        return parse_advice(text)
