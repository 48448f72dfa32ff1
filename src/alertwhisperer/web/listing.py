"""What the live list pages (alerts, incidents) share: page size, the "load more" limit, partial requests."""

from __future__ import annotations

from fastapi import Request

PAGE_SIZE = 50


def page_limit(value: str, maximum: int) -> int:
    """The ``limit`` query value, at least one page and at most ``maximum`` (a bad value: one page)."""
    try:
        return max(PAGE_SIZE, min(maximum, int(value)))
    except ValueError:
        return PAGE_SIZE


def list_partial(request: Request, target: str) -> bool:
    """An HTMX request for the list only (filters, live refresh, load more), not a history restore."""
    headers = request.headers
    return (headers.get("hx-request") == "true" and headers.get("hx-target") == target
            and not headers.get("hx-history-restore-request"))
