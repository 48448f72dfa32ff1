"""One JSON POST to an AI provider over httpx, with an explicit timeout; failures become ``AdvisorError``
(status and a short body excerpt, never the request headers that carry the API key)."""

from __future__ import annotations

from typing import Any

import httpx

from alertwhisperer.remediation.advisor.base import AdvisorError


async def post_json(
    url: str,
    *,
    headers: dict[str, str],
    body: dict[str, Any],
    seconds: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=seconds, transport=transport) as client:
            response = await client.post(url, headers=headers, json=body)
    except httpx.TimeoutException as exc:
        raise AdvisorError(f"the provider did not answer within {seconds:g}s") from exc
    except httpx.HTTPError as exc:
        raise AdvisorError(f"could not reach the provider: {type(exc).__name__}") from exc
    if response.status_code >= 400:
        raise AdvisorError(f"the provider answered HTTP {response.status_code}: {response.text[:200]}")
    try:
        data = response.json()
    except ValueError as exc:
        raise AdvisorError("the provider's answer is not JSON") from exc
    if not isinstance(data, dict):
        raise AdvisorError("the provider's answer is not a JSON object")
    return data


def dig(data: Any, *path: str | int) -> Any:
    """``data[p0][p1]...`` or ``AdvisorError`` naming what is missing (for provider response envelopes)."""
    current = data
    for part in path:
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError) as exc:
            raise AdvisorError(f"unexpected response shape: no {'.'.join(str(p) for p in path)}") from exc
    return current
