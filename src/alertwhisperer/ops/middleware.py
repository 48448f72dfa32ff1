"""Request ids, one structured log line per request, and Prometheus metrics."""

from __future__ import annotations

import time
import uuid

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alertwhisperer.ops.logging import scrub_text

log = structlog.get_logger("alertwhisperer.http")


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
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming if incoming.replace("-", "").isalnum() else uuid.uuid4().hex
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
            elapsed = time.perf_counter() - start
            route = _route_of(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if status >= 500:
                self.metrics.errors.labels(method, route).inc()
            query = scope.get("query_string", b"").decode("latin-1")
            log.info("http.request", method=method, path=scope["path"],
                     query=scrub_text(query) if query else None, status=status,
                     duration_ms=round(elapsed * 1000, 2),
                     client=scope["client"][0] if scope.get("client") else None)
            structlog.contextvars.unbind_contextvars("request_id")
