"""The replay's input and output: reading ALERTS.jsonl lines, bulk inserts, writing RESULT.jsonl."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Dialect, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer import dbrows
from alertwhisperer.dbrows import statement

CHUNK = 5000  # rows per executemany

# The stdlib decoder's C scanners (not in the type stubs): a value at an index, a string after its quote.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_SPACE = re.compile(r"[ \t\n\r]*")


def lines(path: Path, progress: Callable[[int], None] | None) -> Iterator[tuple[int, str]]:
    """(0-based physical line number, text) of every non-blank line."""
    with path.open("rb") as fh:
        pending = 0
        for number, raw in enumerate(fh):
            pending += len(raw)
            if progress is not None and pending >= 1 << 18:  # report every 256 KiB: cheap even for big files
                progress(pending)
                pending = 0
            text = raw.decode("utf-8", errors="replace").strip()
            if text:  # a blank line has no delivery (and no row) but keeps the numbering physical
                yield number, text
        if progress is not None and pending:
            progress(pending)


def _split(text: str) -> tuple[dict[str, Any], bytes]:
    """The top-level object with the raw text of its ``body`` (the delivery as the tool sent it: no re-encoding).

    A hand-rolled walk over the top level (the C scanner parses each value); anything unusual raises and the
    caller falls back to ``json.loads``.
    """
    if not text.startswith("{"):
        raise ValueError
    item: dict[str, Any] = {}
    body: bytes | None = None
    end = _SPACE.match(text, 1).end()  # type: ignore[union-attr]
    if text[end] == "}":
        return item, b"null"
    while True:
        if text[end] != '"':
            raise ValueError
        key, end = scanstring(text, end + 1)
        end = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if text[end] != ":":
            raise ValueError
        start = _SPACE.match(text, end + 1).end()  # type: ignore[union-attr]
        value, end = _scan(text, start)
        item[key] = value
        if key == "body":
            body = value.encode() if isinstance(value, str) else text[start:end].encode()
        end = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if text[end] == "}":
            if _SPACE.match(text, end + 1).end() != len(text):  # type: ignore[union-attr]
                raise ValueError
            break
        if text[end] != ",":
            raise ValueError
        end = _SPACE.match(text, end + 1).end()  # type: ignore[union-attr]
    return item, b"null" if body is None else body


def parse_line(text: str) -> tuple[Any, bytes]:
    """The line's value and its body as bytes for the adapter (a JSON string body is sent as its text).

    ``ValueError`` (``json.JSONDecodeError``) when the line is not JSON, exactly as ``json.loads`` words it.
    """
    try:
        return _split(text)
    except (ValueError, IndexError, StopIteration, AttributeError):
        pass
    item = json.loads(text)  # the slow path: json.loads's own error, or an object the walk did not expect
    body = item.get("body") if isinstance(item, dict) else None
    return item, body.encode() if isinstance(body, str) else json.dumps(body).encode()


# --- database --------------------------------------------------------------------------------------------------
def bindable(dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]]) -> bool:
    """Whether ``rows`` can go to the driver directly: SQLite or asyncpg, and every column given (no defaults
    to fill in)."""
    return (bool(rows) and (dialect.name == "sqlite" or dialect.driver == "asyncpg")
            and set(rows[0]) == set(table.c.keys()))


def bind(dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The driver's parameters for ``rows`` (``bindable``): what SQLAlchemy would send, computed here."""
    _, order, processors = statement(dialect, table)
    return dbrows.params(rows, order, processors)


async def insert_bound(session: AsyncSession, table: Table, params: list[tuple[Any, ...]]) -> None:
    """Insert parameters from ``bind``, in chunks."""
    if not params:
        return
    conn = await session.connection()
    sql, _, _ = statement(conn.dialect, table)
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    for start in range(0, len(params), CHUNK):
        await driver.executemany(sql, params[start:start + CHUNK])


async def bulk_insert(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (every row has the same keys) in one transaction, in chunks.

    SQLite and asyncpg: the driver's ``executemany`` with the columns' own bind processors applied here (what
    SQLAlchemy would send, without its per-row statement machinery), the next chunk prepared while the previous
    one runs. Otherwise Core ``executemany``.
    """
    if not rows:
        return
    conn = await session.connection()
    if not bindable(conn.dialect, table, rows):  # Core: other databases, or column defaults to fill in
        for start in range(0, len(rows), CHUNK):
            await conn.execute(insert(table), list(rows[start:start + CHUNK]))
        return
    sql, order, processors = statement(conn.dialect, table)
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    pending: asyncio.Future[Any] | None = None
    try:
        for start in range(0, len(rows), CHUNK):
            params = dbrows.params(rows[start:start + CHUNK], order, processors)
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(driver.executemany(sql, params))
    finally:
        if pending is not None:
            await pending


def write_result(path: Path, rows: Iterable[tuple[int, int, str, str | None, str, str]]) -> None:
    """RESULT.jsonl: ``{"line", "index", "alert_id", "incident_id", "outcome", "reason"}`` per row."""
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(f'{{"line": {line}, "index": {index}, "alert_id": {dumps(alert_id)}, "incident_id": '
                      f'{"null" if incident_id is None else dumps(incident_id)}, "outcome": {dumps(outcome)}, '
                      f'"reason": {dumps(reason)}}}\n'
                      for line, index, alert_id, incident_id, outcome, reason in rows)
