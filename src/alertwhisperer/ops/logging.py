"""Structured JSON logs (structlog) with request ids; secrets are scrubbed from anything logged."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import sys
import threading
import time
from datetime import UTC, datetime
from typing import IO, Any

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


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes lines in batches: at most ``interval`` seconds or ``max_lines`` late, warnings and errors at once.

    One write and flush per request line was a system call per webhook; under load this batches them.
    A process killed with SIGKILL loses at most the last ``interval`` of info lines (never an error line);
    a normal exit flushes everything (``logging.shutdown``)."""

    def __init__(self, stream: IO[str], interval: float = 0.25, max_lines: int = 256) -> None:
        super().__init__(stream)
        self.interval = interval
        self.max_lines = max_lines
        self._lines: list[str] = []
        self._last = time.monotonic()
        self._stop = threading.Event()
        threading.Thread(target=self._tick, name="log-flusher", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write_line(self.format(record), urgent=record.levelno >= logging.WARNING)
        except Exception:
            self.handleError(record)

    def write_line(self, line: str, *, urgent: bool = False) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line)
            if urgent or len(self._lines) >= self.max_lines or time.monotonic() - self._last >= self.interval:
                self._drain()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._drain()

    def _drain(self) -> None:
        self._last = time.monotonic()
        if self._lines:
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            self.stream.write(text)
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream: nothing to do
            self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        super().close()


_fast_handler: BufferedStreamHandler | None = None  # JSON logs: request lines skip the structlog pipeline
_http_log = structlog.get_logger("alertwhisperer.http")


def request_line(**fields: Any) -> None:
    """The one log line per HTTP request (``event: http.request``), as cheap as it can be.

    With JSON logs the line is rendered here, with the same keys the structlog pipeline gives (event,
    request id from the context, level, timestamp), and handed to the buffered handler directly."""
    handler = _fast_handler
    if handler is None or not logging.getLogger("alertwhisperer.http").isEnabledFor(logging.INFO):
        _http_log.info("http.request", **fields)
        return
    event: dict[str, Any] = {"event": "http.request", **fields, **structlog.contextvars.get_contextvars()}
    event = _scrub(None, "info", event)
    event["level"] = "info"
    event["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    handler.write_line(json.dumps(event, default=str))


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
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
        foreign_pre_chain=shared,
    )
    global _fast_handler
    handler = BufferedStreamHandler(sys.stderr)
    _fast_handler = handler if json_logs else None
    handler.setFormatter(formatter)
    handler.addFilter(_ScrubFilter())
    root = logging.getLogger()
    for old_handler in root.handlers:
        old_handler.close()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs requests (scrubbed)
