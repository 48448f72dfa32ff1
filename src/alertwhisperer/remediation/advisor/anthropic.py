"""Anthropic's Messages API (``POST /v1/messages``)."""

from __future__ import annotations

from typing import Any

import httpx

from alertwhisperer.remediation.advisor.base import Advice, AdvisorError
from alertwhisperer.remediation.advisor.client import dig, post_json
from alertwhisperer.remediation.advisor.prompt import MAX_ANSWER_TOKENS, SYSTEM, facts_text, parse_advice

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


class AnthropicAdvisor:
    provider = "anthropic"

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
        self._url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"
        self._timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:
        return f"AnthropicAdvisor(model={self.model!r})"

    async def advise(self, facts: dict[str, Any], candidates: list[dict[str, Any]]) -> Advice:
        body = {
            "model": self.model,
            "max_tokens": MAX_ANSWER_TOKENS,
            "temperature": 0,
            "system": SYSTEM,
            "messages": [{"role": "user", "content": facts_text(facts, candidates)}],
        }
        headers = {"x-api-key": self._api_key, "anthropic-version": API_VERSION}
        data = await post_json(self._url, headers=headers, body=body, seconds=self._timeout, transport=self._transport)
        texts = [
            part.get("text", "")
            for part in dig(data, "content")
            if isinstance(part, dict) and part.get("type") == "text"
        ]
        if not texts:
            raise AdvisorError("the answer has no text")
        return parse_advice("".join(texts))
