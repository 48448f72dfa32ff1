"""Reading HTML forms and turning validation failures into per-field messages shown inline."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import ValidationError

from alertwhisperer.errors import DomainError, Invalid

FormErrors = dict[str, str]


class Form:
    """A submitted form: strings, checkboxes and multi-value fields, never raising on a missing key."""

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self._items = [(k, v) for k, v in items if isinstance(v, str)]

    @classmethod
    async def read(cls, request: Request) -> Form:
        data = await request.form()
        return cls(list(data.multi_items()))

    def text(self, key: str, default: str = "") -> str:
        for k, v in self._items:
            if k == key:
                return str(v).strip()
        return default

    def opt(self, key: str) -> str | None:
        return self.text(key) or None

    def raw(self, key: str) -> str:
        for k, v in self._items:
            if k == key:
                return str(v)
        return ""

    def checked(self, key: str) -> bool:
        return self.text(key).lower() in ("on", "true", "1", "yes")

    def many(self, key: str) -> list[str]:
        return [str(v).strip() for k, v in self._items if k == key and str(v).strip()]

    def split(self, key: str) -> list[str]:
        return [p.strip() for p in self.text(key).replace("\n", ",").split(",") if p.strip()]

    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in self._items:
            out.setdefault(k, str(v))
        return out


def parse_tags(text: str) -> dict[str, str]:
    """``key=value`` pairs, one per line (or comma separated)."""
    tags: dict[str, str] = {}
    for n, line in enumerate(text.replace(",", "\n").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise Invalid(f"line {n}: write tags as key=value", field="tags")
        tags[key.strip()] = value.strip()
    return tags


def format_tags(tags: dict[str, str] | None) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted((tags or {}).items()))


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message[:1].upper() + message[1:]


def validation_errors(exc: ValidationError, *, aliases: dict[str, str] | None = None) -> FormErrors:
    """Field name (dotted path, as the form names it) -> first message."""
    errors: FormErrors = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        # list items and dict keys (tags.<key>) report on the field itself
        while len(loc) > 1 and (loc[-1].isdigit() or loc[0] in ("tags", "skills", "depends_on", "company_ids")):
            loc.pop()
        field = ".".join(loc) or "__all__"
        field = (aliases or {}).get(field, field)
        errors.setdefault(field, _clean(str(err.get("msg", "invalid value"))))
    return errors


def domain_errors(exc: DomainError, *, default_field: str = "__all__") -> FormErrors:
    field = exc.field if isinstance(exc, Invalid) and exc.field else None
    if field is None and isinstance(exc.details, dict) and isinstance(exc.details.get("field"), str):
        field = exc.details["field"]
    return {field or default_field: _clean(exc.message)}
