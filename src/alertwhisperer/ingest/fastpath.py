"""ASGI shortcut for ``POST /api/webhooks/{source}``, the one hot path of the server.

Under load, the middleware stack (Starlette's error and exception layers, FastAPI's body-limit and
telemetry wrappers, cookie refresh, request logging — each one more coroutine frame and ``send`` wrapper
per request), route matching (every router is scanned in order) and dependency solving cost more CPU than
the webhook itself. This layer sits *outside* that stack (``install``: it wraps what Starlette builds) and
answers the webhook POST with the very same handler (``api.handle_webhook``), doing itself what the
skipped layers would do for it:

* request id (the caller's ``X-Request-ID`` or a new one) in the log context and the response headers;
* one access-log line and the request metrics under the route's path (``ops.middleware.observe``);
* domain errors through the application's own ``DomainError`` handler;
* anything unexpected logged with its traceback and answered ``500`` (JSON), as Starlette's error
  middleware would — unless the response had already started, then the connection is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alertwhisperer.errors import DomainError
from alertwhisperer.ingest.api import WEBHOOK_PATH, handle_webhook
from alertwhisperer.ops.middleware import Metrics, observe, request_id_of

log = structlog.get_logger(__name__)

PREFIX = "/api/webhooks/"
_SERVER_ERROR = JSONResponse({"error": "internal", "message": "internal server error"}, status_code=500)


def _api_key_param(scope: Scope) -> str | None:
    query: bytes = scope.get("query_string", b"")
    if b"api_key=" not in query:
        return None
    return Request(scope).query_params.get("api_key")


class WebhookFastPath:
    def __init__(self, app: ASGIApp, metrics: Metrics, owner: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.owner = owner  # the FastAPI application (``request.app``)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        source = webhook_source(scope)
        if source is None:
            await self.app(scope, receive, send)
        else:
            await self.handle(scope, receive, send, source)

    async def handle(self, scope: Scope, receive: Receive, send: Send, source: str) -> None:
        path: str = scope["path"]
        request_id = request_id_of(scope)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        answered = False
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            scope["app"] = self.owner
            request = Request(scope, receive)
            try:
                response = await handle_webhook(request, source, _api_key_param(scope))
            except DomainError as exc:
                response = await self.owner.exception_handlers[DomainError](request, exc)
            await response(scope, receive, send_with_id)
        except Exception:
            log.exception("http.unhandled_error", path=path)
            if answered:
                raise  # the response started: only dropping the connection is left
            await _SERVER_ERROR(scope, receive, send_with_id)
        finally:
            observe(self.metrics, scope, WEBHOOK_PATH, status, time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("request_id")


def webhook_source(scope: Scope) -> str | None:
    """The ``{source}`` of a ``POST /api/webhooks/{source}`` request, else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope.get("path", "")
    if not path.startswith(PREFIX):
        return None
    source = path[len(PREFIX):]
    return source if source and "/" not in source else None


def install(app: Any, metrics: Metrics) -> None:
    """Wrap the middleware stack the application builds (on its first request) with the fast path."""
    build: Callable[[], ASGIApp] = app.build_middleware_stack
    app.build_middleware_stack = lambda: WebhookFastPath(build(), metrics, app)


class Front:
    """What the server runs: webhook POSTs go straight to the fast path, before even ``FastAPI.__call__``
    (which checks its telemetry settings on every request); everything else (lifespan included) to the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.fast = WebhookFastPath(app, app.state.metrics, app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        source = webhook_source(scope)
        if source is None:
            await self.app(scope, receive, send)
        else:
            await self.fast.handle(scope, receive, send, source)
