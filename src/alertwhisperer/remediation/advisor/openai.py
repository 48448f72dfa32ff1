"""OpenAI-compatible chat completions (``POST {base_url}/chat/completions``): OpenAI itself, and local or
self-hosted models behind the same API (Ollama, vLLM, LM Studio, llama.cpp server) through ``advisor_base_url``.
Without an API key no ``Authorization`` header is sent (local servers need none)."""

from __future__ import annotations

from typing import Any

import httpx

from alertwhisperer.remediation.advisor.base import Advice, AdvisorError
from alertwhisperer.remediation.advisor.client import dig, post_json
from alertwhisperer.remediation.advisor.prompt import MAX_ANSWER_TOKENS, SYSTEM, facts_text, parse_advice

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIAdvisor:
    provider = "openai"

    def __init__(
        self,
        *,
        model: str,
        api_key: str = "",
        base_url: str | None = None,
        timeout: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self._api_key = api_key
        self._url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        self._timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:
        return f"OpenAIAdvisor(model={self.model!r}, url={self._url!r})"

    async def advise(self, facts: dict[str, Any], candidates: list[dict[str, Any]]) -> Advice:
        body = {
            "model": self.model,
            "temperature": 0,
            "max_tokens": MAX_ANSWER_TOKENS,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": facts_text(facts, candidates)},
            ],
        }
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        data = await post_json(self._url, headers=headers, body=body, seconds=self._timeout, transport=self._transport)
        text = dig(data, "choices", 0, "message", "content")
        if not isinstance(text, str) or not text.strip():
            raise AdvisorError("the answer has no text")
        return parse_advice(text)
