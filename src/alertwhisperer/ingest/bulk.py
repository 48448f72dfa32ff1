"""Bulk INSERT for the webhook writer, with SQLAlchemy's generic per-row machinery taken out on SQLite.

``conn.execute(insert(Model), rows)`` spends most of its time, per row and column, in SQLAlchemy's
generic parameter processing. On SQLite the rows are bound by ``dbrows`` instead (the columns' own bind
processors, or checked faster equivalents) and handed to the DBAPI cursor's ``executemany`` inside the
caller's transaction. Values stored are therefore identical to what the ORM writes
(``tests/ingest/test_bulk.py`` compares both). Other databases use the normal insert.

Columns missing from the rows get their Python-side default (scalar or callable), as with ``insert()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection, Dialect

from alertwhisperer import dbrows


@dataclass(frozen=True)
class _Plan:
    sql: str
    order: list[str]
    processors: list[Any]
    defaults: tuple[tuple[str, Any, bool], ...]  # (column, value or callable, is_callable)


_plans: dict[tuple[str, frozenset[str], str], _Plan] = {}


def _plan(table: Table, keys: frozenset[str], dialect: Dialect) -> _Plan:
    cache_key = (table.name, keys, dialect.name)
    plan = _plans.get(cache_key)
    if plan is not None:
        return plan
    defaults: list[tuple[str, Any, bool]] = []
    for column in table.columns:
        if column.key in keys or column.default is None:
            continue  # given, or NULL (the server default)
        default: Any = column.default
        defaults.append((column.key, default.arg, bool(default.is_callable)))
    sql, order, processors = dbrows.statement(dialect, table)  # every column, in the SQL's parameter order
    plan = _Plan(sql, order, processors, tuple(defaults))
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
    for row in rows:
        for name, value, is_callable in plan.defaults:
            if name not in row:
                row[name] = value(None) if is_callable else value
        if len(row) != len(plan.order):  # columns without a default and not given: NULL, as insert() does
            for name in plan.order:
                row.setdefault(name, None)
    bound = dbrows.params(rows, plan.order, plan.processors)
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None  # a connection inside a transaction always has one
    cursor = dbapi.cursor()
    try:
        cursor.executemany(plan.sql, bound)
    finally:
        cursor.close()
