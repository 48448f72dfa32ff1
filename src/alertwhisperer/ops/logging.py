"""Structured JSON logs (structlog) with request ids; secrets are scrubbed from anything logged."""

from __future__ import annotations

import functools
import logging
import re
import sys
from typing import Any

import structlog

SECRET_QUERY = re.compile(r"((?:api_key|token|password|secret)=)[^&\s\"]+", re.IGNORECASE)
SECRET_KEYS = ("password", "secret", "token", "api_key", "authorization", "cookie")


def scrub_text(value: str) -> str:
    return SECRET_QUERY.sub(r"\1[redacted]", value)


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(s in lowered for s in SECRET_KEYS)


def _scrub(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    # Runs on every log line (one per request): the key test is memoised, and only strings containing "="
    # can match SECRET_QUERY, so the others skip the regex.
    for key, value in list(event.items()):
        if _secret_key(key):
            event[key] = "[redacted]"
        elif isinstance(value, str) and "=" in value:
            event[key] = scrub_text(value)
    return event


class _ScrubFilter(logging.Filter):
    """Uvicorn's access log prints the query string: remove keys passed as ?api_key=."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(scrub_text(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = scrub_text(record.msg)
        return True


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _scrub,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=shared,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(_ScrubFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs requests (scrubbed)
