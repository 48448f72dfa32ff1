"""The configured advisor (``settings.advisor_provider``), or None when it is "off" (the default)."""

from __future__ import annotations

import httpx

from alertwhisperer.config import Settings
from alertwhisperer.remediation.advisor.anthropic import AnthropicAdvisor
from alertwhisperer.remediation.advisor.base import Advisor
from alertwhisperer.remediation.advisor.bedrock import BedrockAdvisor
from alertwhisperer.remediation.advisor.gemini import GeminiAdvisor
from alertwhisperer.remediation.advisor.openai import OpenAIAdvisor

DEFAULT_MODELS = {
    "anthropic": "claude-3-5-haiku-latest",
    "openai": "gpt-4o-mini",
    "gemini": "gemini-2.0-flash",
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
}


def advisor_from(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> Advisor | None:
    """Build the advisor the settings ask for (no network here). ``transport``: for the HTTP providers (tests)."""
    provider = settings.advisor_provider
    if provider == "off":
        return None
    model = settings.advisor_model or DEFAULT_MODELS[provider]
    key = settings.advisor_api_key.get_secret_value() if settings.advisor_api_key is not None else ""
    timeout = settings.advisor_timeout
    if provider == "anthropic":
        return AnthropicAdvisor(
            model=model, api_key=key, base_url=settings.advisor_base_url, timeout=timeout, transport=transport
        )
    if provider == "openai":
        return OpenAIAdvisor(
            model=model, api_key=key, base_url=settings.advisor_base_url, timeout=timeout, transport=transport
        )
    if provider == "gemini":
        return GeminiAdvisor(
            model=model, api_key=key, base_url=settings.advisor_base_url, timeout=timeout, transport=transport
        )
    return BedrockAdvisor(model=model, region=settings.advisor_region, timeout=timeout)
