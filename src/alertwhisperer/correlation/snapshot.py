"""``TenantState`` <-> JSON, so the service can keep each company's correlation state in the database.

A tagged encoding (datetimes, timedeltas, sets, deques, tuples and the state dataclasses are marked), so the
round trip is exact: ``load(dump(state))`` correlates the next alert exactly as ``state`` would.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from alertwhisperer.correlation.state import AlertState, IncidentState, TenantState

_CLASSES: dict[str, type[AlertState] | type[IncidentState]] = {"A": AlertState, "I": IncidentState}
_FIELDS = {name: tuple(f.name for f in fields(cls)) for name, cls in _CLASSES.items()}
_STATE_FIELDS = tuple(f.name for f in fields(TenantState) if f.name not in ("company_id", "id_factory"))


def _enc(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return {"$d": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    if isinstance(value, set | frozenset):
        return {"$s": sorted((_enc(v) for v in value), key=repr)}
    if isinstance(value, deque):
        return {"$q": [_enc(v) for v in value]}
    if isinstance(value, tuple):
        return {"$t": [_enc(v) for v in value]}
    if isinstance(value, list):
        return [_enc(v) for v in value]
    if isinstance(value, dict):
        return {"$m": {str(k): _enc(v) for k, v in value.items()}}
    for tag, cls in _CLASSES.items():
        if isinstance(value, cls):
            return {"$c": tag, "f": {name: _enc(getattr(value, name)) for name in _FIELDS[tag]}}
    raise TypeError(f"cannot encode {type(value).__name__} in a correlation snapshot")


def _dec(value: Any) -> Any:
    if isinstance(value, list):
        return [_dec(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$d" in value:
        return datetime.fromisoformat(value["$d"])
    if "$td" in value:
        return timedelta(seconds=value["$td"])
    if "$s" in value:
        return {_dec(v) for v in value["$s"]}
    if "$q" in value:
        return deque(_dec(v) for v in value["$q"])
    if "$t" in value:
        return tuple(_dec(v) for v in value["$t"])
    if "$m" in value:
        return {k: _dec(v) for k, v in value["$m"].items()}
    if "$c" in value:
        cls = _CLASSES[value["$c"]]
        known = _FIELDS[value["$c"]]  # a field the class no longer has is dropped; a new one takes its default
        return cls(**{k: _dec(v) for k, v in value["f"].items() if k in known})
    raise ValueError(f"unknown snapshot value {sorted(value)!r}")


def dump(state: TenantState) -> dict[str, Any]:
    return {"v": 1, "company_id": state.company_id, **{name: _enc(getattr(state, name)) for name in _STATE_FIELDS}}


def load(data: dict[str, Any], *, id_factory: Callable[[], str]) -> TenantState:
    if data.get("v") != 1:
        raise ValueError("unsupported correlation snapshot version")
    state = TenantState(str(data["company_id"]), id_factory=id_factory)
    for name in _STATE_FIELDS:
        if name in data:
            setattr(state, name, _dec(data[name]))
    return state
