"""Log lines are written in batches, errors at once, and nothing is lost on a normal shutdown."""

from __future__ import annotations

import io
import json
import logging
import time

import structlog

from alertwhisperer.ops import logging as log_module
from alertwhisperer.ops.logging import BufferedStreamHandler, configure_logging, request_line


def _record(level: int, msg: str) -> logging.LogRecord:
    return logging.LogRecord("t", level, __file__, 1, msg, None, None)


def test_info_batches_warnings_flush_close_drains() -> None:
    stream = io.StringIO()
    handler = BufferedStreamHandler(stream, interval=3600, max_lines=3)
    try:
        handler.emit(_record(logging.INFO, "one"))
        handler.emit(_record(logging.INFO, "two"))
        assert stream.getvalue() == ""  # batched
        handler.emit(_record(logging.WARNING, "careful"))
        assert stream.getvalue() == "one\ntwo\ncareful\n"  # a warning goes out at once, after what came before
        for n in range(3):
            handler.emit(_record(logging.INFO, f"n{n}"))
        assert stream.getvalue().endswith("n0\nn1\nn2\n")  # a full batch goes out
        handler.emit(_record(logging.INFO, "last"))
    finally:
        handler.close()
    assert stream.getvalue().endswith("last\n")


def test_the_flusher_thread_writes_stragglers() -> None:
    stream = io.StringIO()
    handler = BufferedStreamHandler(stream, interval=0.05)
    try:
        handler.emit(_record(logging.INFO, "quiet"))
        deadline = time.monotonic() + 10
        while "quiet" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stream.getvalue() == "quiet\n"
    finally:
        handler.close()


def test_request_line_has_the_pipeline_keys_and_scrubs() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    configure_logging("INFO", json_logs=True)
    handler = root.handlers[0]
    assert isinstance(handler, BufferedStreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    structlog.contextvars.bind_contextvars(request_id="rid-1")
    try:
        request_line(method="POST", path="/api/webhooks/generic", query="api_key=aw_secret123&x=1", status=202,
                     duration_ms=1.5, client="127.0.0.1")
        structlog.get_logger("x").info("something.else", token="abc")
        handler.flush()
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
        root.handlers[0].close()
        root.handlers, root.level = saved, level
        log_module._fast_handler = None
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    fast, slow = lines
    assert fast["event"] == "http.request" and fast["request_id"] == "rid-1" and fast["level"] == "info"
    assert fast["query"] == "api_key=[redacted]&x=1" and fast["timestamp"].endswith("Z")
    assert set(slow) - {"token"} <= set(fast) | {"event"} and slow["token"] == "[redacted]"
