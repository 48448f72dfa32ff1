"""Bulk INSERT for the webhook writer, with SQLAlchemy's generic per-row machinery taken out on SQLite.

``conn.execute(insert(Model), rows)`` spends most of its time, per row and column, in SQLAlchemy's
generic parameter processing. On SQLite this module prepares, once per table, the SQL text and the
dialect's own bind processors for each column (the very functions SQLAlchemy would call: JSON encoding,
the UTC datetime type, binary), converts the rows with them into tuples and hands those to the DBAPI
cursor's ``executemany`` inside the caller's transaction. Values stored are therefore identical to what
the ORM writes (``tests/ingest/test_bulk.py`` compares both). Other databases use the normal insert.

Columns missing from the rows get their Python-side default (scalar or callable), as with ``insert()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection, Dialect

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor, ...]
    defaults: tuple[tuple[str, Any, bool], ...]  # (column, value or callable, is_callable)


_plans: dict[tuple[str, frozenset[str], str], _Plan] = {}


def _plan(table: Table, keys: frozenset[str], dialect: Dialect) -> _Plan:
    cache_key = (table.name, keys, dialect.name)
    plan = _plans.get(cache_key)
    if plan is not None:
        return plan
    defaults: list[tuple[str, Any, bool]] = []
    columns = []
    for column in table.columns:
        if column.name in keys:
            columns.append(column)
            continue
        default = column.default
        if default is None:
            continue  # NULL (or the server default)
        columns.append(column)
        if default.is_callable:
            defaults.append((column.name, default.arg, True))  # type: ignore[attr-defined]
        else:
            defaults.append((column.name, default.arg, False))  # type: ignore[attr-defined]
    compiled = insert(table).compile(dialect=dialect, column_keys=[c.key for c in columns])
    names = tuple(compiled.positiontup or ())  # the parameters' order in the SQL text
    if set(names) != {c.key for c in columns}:
        raise RuntimeError(f"unexpected parameters compiling the insert into {table.name}: {names}")
    by_key = {c.key: c for c in columns}
    processors = tuple(by_key[n].type._cached_bind_processor(dialect) for n in names)
    plan = _Plan(str(compiled), names, processors, tuple(defaults))
    _plans[cache_key] = plan
    return plan


def insert_rows(conn: Connection, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``model``'s table in the connection's transaction."""
    if not rows:
        return
    table: Table = model.__table__
    dialect = conn.dialect
    if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
        conn.execute(insert(model), list(rows))
        return
    plan = _plan(table, frozenset(rows[0]), dialect)
    if plan.defaults:
        for row in rows:
            for name, value, is_callable in plan.defaults:
                if name not in row:
                    row[name] = value(None) if is_callable else value
    names, processors = plan.names, plan.processors
    params = [tuple(value if proc is None else proc(value)
                    for value, proc in zip([row[n] for n in names], processors, strict=True)) for row in rows]
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None  # a connection inside a transaction always has one
    cursor = dbapi.cursor()
    try:
        cursor.executemany(plan.sql, params)
    finally:
        cursor.close()
