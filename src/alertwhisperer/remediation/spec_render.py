"""Parameter values (checked, coerced, filled from an incident), and a runbook's steps turned into one script
for its target shell with every parameter value quoted for that shell.

sh/bash: ``set -u``; each step runs in a subshell with ``set -e`` after printing ``==> <step name>``; the first
step that fails stops the script with its exit code. PowerShell: ``$ErrorActionPreference = 'Stop'``; each step
runs in ``try``; a thrown error exits 1, a native command's non-zero ``$LASTEXITCODE`` exits with that code.
Import these through ``remediation.spec``. (``spec_model`` imports this module: import it here lazily.)
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from alertwhisperer.errors import Invalid

if TYPE_CHECKING:
    from alertwhisperer.remediation.spec_model import Parameter, ParamValue, RunbookSpec, Step

CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# PowerShell treats the typographic single quotes as quote characters too: each must be doubled inside '...'.
_PS_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


# --- parameter values -----------------------------------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def check_value(param: Parameter, value: Any) -> ParamValue:
    """Coerce ``value`` to the parameter's type and check pattern/choices; raises ``Invalid`` naming it."""
    name = param.name

    def bad(message: str) -> Invalid:
        return Invalid(f"parameter '{name}': {message}", field=f"params.{name}", details={"parameter": name})

    if param.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise bad("must be a whole number")
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad(f"'{value}' is not a whole number") from None
    if param.type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE and not isinstance(value, float):
            return text in _TRUE
        raise bad(f"'{value}' is not true or false")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad("must be text")
    text = str(value)
    if CONTROL_RE.search(text):
        raise bad("must be one line of text without control characters")
    if len(text) > 1000:
        raise bad("is longer than 1000 characters")
    if param.choices and text not in param.choices:
        raise bad(f"'{text}' is not one of {', '.join(param.choices)}")
    if param.pattern and not re.fullmatch(param.pattern, text):
        raise bad(f"'{text}' does not match the allowed pattern {param.pattern}")
    return text


def validate_params(spec: RunbookSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Every declared parameter with defaults applied and values coerced; unknown or missing ones raise."""
    unknown = sorted(set(params) - {p.name for p in spec.parameters})
    if unknown:
        raise Invalid(
            f"unknown parameter '{unknown[0]}' (this runbook takes: "
            f"{', '.join(p.name for p in spec.parameters) or 'none'})",
            field=f"params.{unknown[0]}",
            details={"parameter": unknown[0]},
        )
    out: dict[str, Any] = {}
    for param in spec.parameters:
        value = params.get(param.name)
        if value is None or value == "":
            value = param.default
        if value is None or value == "":
            if param.required:
                raise Invalid(
                    f"parameter '{param.name}' is required",
                    field=f"params.{param.name}",
                    details={"parameter": param.name},
                )
            out[param.name] = None
            continue
        out[param.name] = check_value(param, value)
    return out


def params_from_incident(
    spec: RunbookSpec, *, symptom: str, asset_name: str = "", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """Values for parameters marked ``from_incident`` that this incident can fill (others are left out)."""
    labels = labels or {}
    out: dict[str, Any] = {}
    for param in spec.parameters:
        source = param.from_incident
        value: str | None = None
        if source == "service" and symptom.startswith("service_down:"):
            value = symptom.split(":", 1)[1] or None
        elif source == "asset":
            value = asset_name or None
        elif source and source.startswith("label:"):
            value = labels.get(source.split(":", 1)[1])
        if value:
            out[param.name] = value
    return out


# --- rendering ------------------------------------------------------------------------------------------------------


def quote_for(shell: str, value: Any) -> str:
    """``value`` as one literal token of ``shell`` (sh/bash: POSIX single quotes; powershell: '...' doubled)."""
    if shell == "powershell":
        if isinstance(value, bool):
            return "$true" if value else "$false"
        if isinstance(value, int):
            return str(value)
        text = "" if value is None else str(value)
        for q in _PS_QUOTES:
            text = text.replace(q, q + q)
        return f"'{text}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return shlex.quote("" if value is None else str(value))


def substitute(text: str, shell: str, values: dict[str, Any]) -> str:
    from alertwhisperer.remediation.spec_model import PLACEHOLDER_RE

    def one(match: Any) -> str:
        return quote_for(shell, values[match.group(1).strip()])

    return PLACEHOLDER_RE.sub(one, text)


def _script_shell(os: str, steps: list[Step]) -> str:
    if os == "windows":
        return "powershell"
    return "bash" if any(step.shell == "bash" for step in steps) else "sh"


def _sh_script(steps: list[Step], values: dict[str, Any], shell: str) -> str:
    lines = ["set -u"]
    for step in steps:
        name = shlex.quote(step.name)
        body = substitute(step.run, shell, values).rstrip("\n")
        lines += [
            f"printf '==> %s\\n' {name}",
            "(",
            "set -e",
            body,
            ")",
            "aw_rc=$?",
            'if [ "$aw_rc" -ne 0 ]; then',
            f"  printf '==> step %s failed with exit code %s\\n' {name} \"$aw_rc\" >&2",
            '  exit "$aw_rc"',
            "fi",
        ]
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


def _ps_script(steps: list[Step], values: dict[str, Any]) -> str:
    lines = ["$ErrorActionPreference = 'Stop'", "$ProgressPreference = 'SilentlyContinue'"]
    for step in steps:
        name = quote_for("powershell", step.name)
        body = substitute(step.run, "powershell", values).rstrip("\n")
        lines += [
            f"Write-Output ('==> ' + {name})",
            "$global:LASTEXITCODE = 0",
            "try {",
            body,
            "} catch {",
            f"  [Console]::Error.WriteLine('==> step ' + {name} + ' failed: ' + $_.Exception.Message)",
            "  exit 1",
            "}",
            "if ($LASTEXITCODE -ne 0) {",
            f"  [Console]::Error.WriteLine('==> step ' + {name} + ' failed with exit code ' + $LASTEXITCODE)",
            "  exit $LASTEXITCODE",
            "}",
        ]
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


def render_script(spec: RunbookSpec, os: str, params: dict[str, Any], *, rollback: bool = False) -> tuple[str, str]:
    """``(script, shell)`` running the steps (or the rollback steps) for ``os`` with ``params`` substituted.

    ``params`` are validated first (``validate_params``: defaults, types, pattern, choices), so a value that the
    runbook does not allow never reaches a script. Raises ``Invalid`` when there are no such steps."""
    block = spec.rollback if rollback else spec.steps
    steps = block.get(os) or []  # type: ignore[call-overload]
    if not steps:
        what = "rollback steps" if rollback else "steps"
        raise Invalid(f"runbook '{spec.name}' has no {what} for {os}", field="os")
    values = validate_params(spec, params)
    shell = _script_shell(os, steps)
    if shell == "powershell":
        return _ps_script(steps, values), shell
    return _sh_script(steps, values, shell), shell


def render_health_command(spec: RunbookSpec, os: str, params: dict[str, Any]) -> tuple[str, str] | None:
    """``(command, shell)`` of a command health check for ``os``, or None (no check, another kind, other OS)."""
    health = spec.health_check
    if health is None or health.kind != "command":
        return None
    command = health.command_for(os)
    if not command:
        return None
    shell = "powershell" if os == "windows" else "sh"
    return substitute(command, shell, validate_params(spec, params)), shell


def render_health_url(spec: RunbookSpec, params: dict[str, Any]) -> str | None:
    """The URL of an http health check with parameters percent-encoded, or None."""
    from alertwhisperer.remediation.spec_model import PLACEHOLDER_RE

    health = spec.health_check
    if health is None or health.kind != "http" or not health.url:
        return None
    values = validate_params(spec, params)
    return PLACEHOLDER_RE.sub(
        lambda m: quote("" if (v := values[m.group(1).strip()]) is None else str(v), safe=""), health.url
    )
