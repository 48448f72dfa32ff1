"""ASGI shortcut for ``POST /api/webhooks/{source}``, the one hot path of the server.

Under load, FastAPI's route matching (every included router is scanned in order), dependency solving
and its exception/exit-stack layers cost more CPU than the webhook itself. This middleware answers the
webhook POST directly with the very same handler (``api.handle_webhook``), so behaviour is identical:
domain errors go through the application's own ``DomainError`` handler, anything unexpected propagates
to Starlette's error middleware (500), as it would from the route. Installed innermost (inside the
request-log/metrics middleware), so every webhook is still logged and counted under its route.
"""

from __future__ import annotations

from types import SimpleNamespace

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from alertwhisperer.errors import DomainError
from alertwhisperer.ingest.api import WEBHOOK_PATH, handle_webhook

PREFIX = "/api/webhooks/"
_ROUTE = SimpleNamespace(path=WEBHOOK_PATH)  # what the metrics middleware labels the request with


class WebhookFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        source = path[len(PREFIX):]
        if not source or "/" in source:
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTE
        request = Request(scope, receive)
        try:
            response = await handle_webhook(request, source, request.query_params.get("api_key"))
        except DomainError as exc:
            handler = request.app.exception_handlers[DomainError]
            response = await handler(request, exc)
        await response(scope, receive, send)
