"""Runbook YAML in and out: ``parse_yaml`` reports every problem with the line of the offending key.

YAML syntax errors carry PyYAML's mark; schema problems carry pydantic's location, which is mapped back to the
YAML node it came from (``yaml.compose`` keeps each node's start mark). Anchors/aliases are refused (no
"billion laughs"), and so are duplicate keys (YAML would silently keep the last one). Import through
``remediation.spec``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from alertwhisperer.remediation.spec_model import (
    PLACEHOLDER_RE,
    QUOTED_PLACEHOLDER_RE,
    HealthCheck,
    Parameter,
    RunbookSpec,
    SpecError,
    SpecProblems,
    Step,
    Trigger,
)

MAX_YAML = 64 * 1024
Loc = tuple[str | int, ...]
_MODELS: tuple[type[BaseModel], ...] = (RunbookSpec, Trigger, Parameter, Step, HealthCheck)
_KNOWN_FIELDS = sorted({name for model in _MODELS for name in model.model_fields})


def _problem(line: int | None, field: str | None, message: str) -> dict[str, Any]:
    return {"line": line, "field": field, "message": message}


def _field(loc: Loc) -> str | None:
    parts = [str(p) for p in loc if p != "[key]"]
    return ".".join(parts) or None


def _locate(root: Node | None, loc: Loc) -> tuple[int | None, Node | None]:
    """The line (1-based) of the deepest YAML key or item that ``loc`` reaches, and that node; parts that match
    nothing (a missing field, a union member's tag) are skipped, so a missing field points at its parent."""
    node, line = root, None
    for part in loc:
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == str(part):
                    node, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line, node


def _line_of(root: Node | None, loc: Loc) -> int | None:
    return _locate(root, loc)[0]


def _line_in_block(root: Node | None, loc: Loc, message: str, lines: list[str]) -> int | None:
    """For a problem inside a multi-line command (``run: |``), the line of the command that has it."""
    line, node = _locate(root, loc)
    if not isinstance(node, ScalarNode) or node.style not in ("|", ">"):
        return line
    named = PLACEHOLDER_RE.search(message)
    wanted = re.compile(r"\{\{\s*" + re.escape(named.group(1).strip()) + r"\s*\}\}") if named else QUOTED_PLACEHOLDER_RE
    for index in range(node.start_mark.line, min(node.end_mark.line + 1, len(lines))):
        if wanted.search(lines[index]):
            return index + 1
    return line


def _message(err: Any) -> str:
    kind, loc, ctx = err["type"], err["loc"], err.get("ctx") or {}
    last = str(next((p for p in reversed(loc) if p != "[key]"), ""))
    if kind == "missing":
        return f"'{last}' is required"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(last, _KNOWN_FIELDS, n=1, cutoff=0.75)
        return f"unknown field '{last}'" + (f" (did you mean '{close[0]}'?)" if close else "")
    if kind == "literal_error":
        shown = err.get("input")
        what = f"'{shown}' is not allowed: " if isinstance(shown, str | int) else ""
        return f"{what}must be one of {ctx.get('expected', '')}"
    if kind == "value_error":
        return str(ctx.get("error") or err["msg"])
    if kind == "string_pattern_mismatch" and loc == ("name",):
        return "must be a slug: lowercase letters, digits and dashes, 2 to 80 characters (e.g. restart-nginx)"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return "must be a mapping of 'key: value' lines"
    if kind == "list_type":
        return "must be a list ('- item' lines)"
    return str(err["msg"]).replace("Input should be", "must be")


def _duplicates(node: Node | None, problems: list[dict[str, Any]], path: Loc = ()) -> None:
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, ScalarNode) else "?"
            line = key.start_mark.line + 1
            if name in seen:
                problems.append(
                    _problem(line, _field((*path, name)), f"'{name}' appears twice (first on line {seen[name]})")
                )
            seen.setdefault(name, line)
            _duplicates(value, problems, (*path, name))
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _duplicates(item, problems, (*path, i))


def _load(text: str) -> tuple[Node | None, Any]:
    if len(text) > MAX_YAML:
        raise SpecError([_problem(None, None, f"the runbook is larger than {MAX_YAML // 1024} KB")])
    if not text.strip():
        raise SpecError([_problem(None, None, "the runbook is empty")])
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise SpecError(
                    [
                        _problem(
                            event.start_mark.line + 1 if event.start_mark else None,
                            None,
                            "YAML aliases (*name) are not supported in runbooks: write it out",
                        )
                    ]
                )
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise SpecError(
            [_problem(mark.line + 1 if mark else None, None, f"YAML syntax error: {detail or 'cannot be read'}")]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([_problem(None, None, f"YAML syntax error: {exc}")]) from None
    return root, data


def parse_yaml(text: str) -> RunbookSpec:
    """The validated spec of a runbook's YAML, or ``SpecError`` listing every problem with its line."""
    root, data = _load(text)
    if not isinstance(data, dict):
        raise SpecError(
            [_problem(1, None, "a runbook is a YAML mapping (name: ..., title: ..., risk: ..., steps: ...)")]
        )
    problems: list[dict[str, Any]] = []
    _duplicates(root, problems)
    bad_keys = [k for k in data if not isinstance(k, str)]
    for key in bad_keys:
        problems.append(_problem(_line_of(root, (str(key),)), str(key), f"'{key}' is not a field name"))
    if problems:
        raise SpecError(problems)
    try:
        return RunbookSpec.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            error = (err.get("ctx") or {}).get("error")
            if isinstance(error, SpecProblems):
                lines = text.splitlines()
                problems += [
                    _problem(_line_in_block(root, loc, message, lines), _field(loc), message)
                    for loc, message in error.problems
                ]
            else:
                loc = tuple(err["loc"])
                problems.append(_problem(_line_of(root, loc), _field(loc), _message(err)))
    problems.sort(key=lambda p: (p["line"] is None, p["line"] or 0))
    raise SpecError(problems)


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(spec: RunbookSpec) -> str:
    """Readable YAML of ``spec`` (defaults left out, multi-line commands as ``|`` blocks); parses back equal."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)
