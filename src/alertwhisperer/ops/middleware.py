"""Request ids, one structured log line per request, and Prometheus metrics."""

from __future__ import annotations

import os
import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alertwhisperer.ops.logging import request_line, scrub_text


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("alertwhisperer_http_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.errors = Counter("alertwhisperer_http_errors_total", "HTTP responses with status >= 500",
                              ["method", "route"], registry=self.registry)
        self.latency = Histogram("alertwhisperer_http_request_duration_seconds", "Request latency",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        """Labelled children are looked up once per (method, route, status), not on every request."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route),
                        self.errors.labels(method, route) if status >= 500 else None)
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if children[2] is not None:
            children[2].inc()


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        start = time.perf_counter()

        async def wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            observe(self.metrics, scope, _route_of(scope), status, time.perf_counter() - start)
            structlog.contextvars.unbind_contextvars("request_id")


def request_id_of(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when it is a plain token, else a new one."""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            incoming: str = value.decode("latin-1")[:64]
            if incoming.replace("-", "").isalnum():
                return incoming
            break
    return os.urandom(16).hex()


def observe(metrics: Metrics, scope: Scope, route: str, status: int, elapsed: float) -> None:
    """Count, time and log one finished request (the query string scrubbed of secrets)."""
    method = scope["method"]
    metrics.observe(method, route, status, elapsed)
    query = scope.get("query_string", b"").decode("latin-1")
    request_line(method=method, path=scope["path"], query=scrub_text(query) if query else None, status=status,
                 duration_ms=round(elapsed * 1000, 2), client=scope["client"][0] if scope.get("client") else None)
