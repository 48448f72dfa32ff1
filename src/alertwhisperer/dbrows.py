"""Rows for a driver's ``executemany``, bound exactly as SQLAlchemy would bind them, minus its per-row machinery.

Used by the webhook writer (``ingest.bulk``) and the replay (``correlation.replay_io``): for every column the
type's own bind processor (JSON text, the UTC datetime type, ...), with faster equivalents for SQLite's JSON and
datetime columns that are checked against the real processor on their first value (``_Checked``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Dialect, LargeBinary, Table, insert

from alertwhisperer.db import UTCDateTime


def statement(dialect: Dialect, table: Table) -> tuple[str, list[str], list[Any]]:
    """The INSERT of every column, its parameter order and each column's own bind processor."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(table.c.keys()))
    order = list(compiled.positiontup or ())
    return str(compiled), order, [processor(dialect, table.c[name].type) for name in order]


# json.dumps(value) with its default arguments, without building the C encoder on every call
_C_ENCODER = json.encoder.c_make_encoder  # type: ignore[attr-defined]
_encoder = _C_ENCODER({}, json.JSONEncoder().default, json.encoder.encode_basestring_ascii, None, ": ", ", ",
                      False, False, True) if _C_ENCODER is not None else None


def _encode_json(value: Any) -> str:
    if _encoder is None or isinstance(value, str):
        return json.dumps(value)
    return "".join(_encoder(value, 0))


def sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text of the UTC time: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if value.tzinfo is UTC:
        return value.isoformat(" ", "microseconds")[:26]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def processor(dialect: Dialect, type_: Any) -> Callable[[Any], Any] | None:
    """The column type's bind processor; for SQLite's JSON and UTC datetime columns a faster equivalent (checked
    against the real one on each value's first use of a column, see ``_Checked``)."""
    if isinstance(type_, LargeBinary):
        return None  # bytes go to the driver as they are (SQLAlchemy wraps them in a memoryview: not picklable)
    real = type_.dialect_impl(dialect).bind_processor(dialect)
    if real is None or dialect.name != "sqlite":
        return real  # type: ignore[no-any-return]
    if isinstance(type_, JSON) and not type_.none_as_null and getattr(dialect, "_json_serializer", None) is None:
        return _Checked(real, lambda v: "null" if v is None else _encode_json(v))
    if isinstance(type_, UTCDateTime):
        return _Checked(real, lambda v: None if v is None else sqlite_datetime(v))
    return real  # type: ignore[no-any-return]


class _Checked:
    """``fast`` where it gives what ``real`` gives: compared on the first value; ``real`` for good otherwise."""

    def __init__(self, real: Callable[[Any], Any], fast: Callable[[Any], Any]) -> None:
        self.real, self.fast = real, fast
        self.use: Callable[[Any], Any] = self._first

    def __call__(self, value: Any) -> Any:
        return self.use(value)

    def _first(self, value: Any) -> Any:
        expected = self.real(value)
        if value is not None:  # decided on the first real value
            self.use = self.fast if self.fast(value) == expected else self.real
        return expected


def params(rows: Iterable[dict[str, Any]], order: list[str], processors: list[Any]) -> list[tuple[Any, ...]]:
    get = itemgetter(*order)
    if len(order) == 1:
        return [(get(r),) for r in rows]
    work = [(i, p) for i, p in enumerate(processors) if p is not None]
    if not work:
        return [get(r) for r in rows]
    memo: dict[datetime, Any] = {}  # a line's arrival time is shared by its rows: formatted once
    out = []
    for r in rows:
        values = list(get(r))
        for i, process in work:
            value = values[i]
            if type(value) is datetime:
                done = memo.get(value, memo)
                if done is memo:
                    done = memo[value] = process(value)
                values[i] = done
            else:
                values[i] = process(value)
        out.append(tuple(values))
    return out
