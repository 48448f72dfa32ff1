"""The runbook schema (pydantic models) and the whole-runbook rules. Import through ``remediation.spec``.

Pure (no database). A runbook is validated twice over: field by field (pydantic), then as a whole (placeholders
name declared parameters, ``auto_approve`` only with low risk, PowerShell only under windows, rollback and health
commands only for operating systems that have steps). ``parse_yaml`` reports every problem with the line of the
offending key. Parameter values are never interpolated raw: ``spec_render`` quotes each one for the target shell.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from alertwhisperer.errors import Invalid
from alertwhisperer.remediation.spec_render import check_value

OS = Literal["linux", "windows"]
Shell = Literal["sh", "bash", "powershell"]
Risk = Literal["low", "medium", "high"]
ParamType = Literal["string", "integer", "boolean"]
ParamValue = str | int | bool | None

SLUG_RE = r"^[a-z0-9][a-z0-9-]{1,79}$"
PARAM_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
PLACEHOLDER_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
QUOTED_PLACEHOLDER_RE = re.compile(r"""["'`]\{\{|\}\}["'`]""")
CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
FROM_INCIDENT_RE = re.compile(r"^(service|asset|label:[A-Za-z0-9_.\-/]{1,100})$")
SYMPTOM_RE = re.compile(r"^[A-Za-z0-9_:*?.\-/\[\]]{1,120}$")


class SpecProblems(ValueError):
    """Whole-runbook problems found after every field was valid: ``[(location, message), ...]``."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


class SpecError(Invalid):
    """The runbook YAML is not valid. ``details = {"problems": [{"line", "field", "message"}, ...]}``."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        first = problems[0]["message"] if problems else "invalid runbook"
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        super().__init__(
            f"The runbook is not valid: {first}{more}",
            field=problems[0]["field"] if problems else None,
            details={"problems": problems},
        )
        self.problems = problems


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


Regex = Annotated[str, AfterValidator(_regex)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Model):
    name: str = Field(min_length=1, max_length=120, description="shown as '==> <name>' in the output")
    run: str = Field(min_length=1, max_length=20_000, description="the commands; {{ param }} is quoted for you")
    shell: Shell = Field("sh", description="sh or bash under linux, powershell under windows (the default there)")

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if CONTROL_RE.search(value):
            raise ValueError("a step name must be one line of text")
        return value


class Trigger(_Model):
    symptoms: list[str] = Field(default_factory=list, description="exact symptom or glob, e.g. service_down:*")
    signature_pattern: Regex | None = Field(None, description="regular expression searched in the alert signature")
    asset_types: list[str] = Field(default_factory=list, description="only for assets of these types (empty: any)")
    asset_tags: dict[str, str] = Field(default_factory=dict, description="only for assets carrying these tags")

    @field_validator("symptoms")
    @classmethod
    def _symptoms(cls, values: list[str]) -> list[str]:
        for value in values:
            if not SYMPTOM_RE.match(value):
                raise ValueError(f"'{value}' is not a symptom name or glob (letters, digits, _ : - . * ?)")
        return values

    def matches_symptom(self, symptom: str) -> bool:
        """True when ``symptom`` equals one of ``symptoms`` or matches one as a glob (case-sensitive)."""
        return any(fnmatch.fnmatchcase(symptom, pattern) for pattern in self.symptoms)

    def matches_signature(self, signature: str) -> bool:
        return self.signature_pattern is not None and re.search(self.signature_pattern, signature) is not None


class Parameter(_Model):
    name: str = Field(description="identifier used as {{ name }} in steps")
    description: str = Field("", max_length=500)
    type: ParamType = "string"
    default: ParamValue = None
    required: bool = False
    pattern: Regex | None = Field(None, description="regular expression the whole value must match")
    choices: list[str] = Field(default_factory=list)
    from_incident: str | None = Field(None, description="service | asset | label:<key>: filled from the incident")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not PARAM_NAME_RE.match(value):
            raise ValueError(
                f"'{value}' is not a valid parameter name (letters, digits and _, not starting "
                "with a digit, at most 40 characters)"
            )
        return value

    @field_validator("from_incident")
    @classmethod
    def _from_incident(cls, value: str | None) -> str | None:
        if value is not None and not FROM_INCIDENT_RE.match(value):
            raise ValueError("must be 'service', 'asset' or 'label:<key>'")
        return value


class HealthCheck(_Model):
    kind: Literal["command", "http", "alert_resolved"]
    command: str | dict[OS, str] | None = Field(None, description="kind command: one command, or one per OS")
    expect_exit: int = 0
    url: str | None = Field(None, description="kind http: fetched from the Alert Whisperer server")
    expect_status: int = Field(200, ge=100, le=599)
    within_minutes: int = Field(10, ge=1, le=1440, description="kind alert_resolved: how long to wait")
    timeout_seconds: int = Field(30, ge=1, le=3600)
    delay_seconds: int = Field(0, ge=0, le=3600, description="wait this long after the run before checking")

    @model_validator(mode="after")
    def _kind_fields(self) -> HealthCheck:
        if self.kind == "command" and not self.command:
            raise ValueError("a command health check needs 'command'")
        if self.kind == "http" and not self.url:
            raise ValueError("an http health check needs 'url'")
        if self.kind == "http" and self.url and not re.match(r"^https?://", self.url):
            raise ValueError("'url' must start with http:// or https://")
        return self

    def command_for(self, os: str) -> str | None:
        if isinstance(self.command, dict):
            return self.command.get(os)  # type: ignore[call-overload, no-any-return]
        return self.command


class RunbookSpec(_Model):
    name: str = Field(pattern=SLUG_RE, description="slug: lowercase letters, digits and dashes")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    category: str = Field("general", max_length=60)
    risk: Risk
    auto_approve: bool = False
    trigger: Trigger = Field(default_factory=Trigger)
    parameters: list[Parameter] = Field(default_factory=list)
    steps: dict[OS, list[Step]]
    timeout_seconds: int = Field(300, ge=1, le=86_400)
    delivery_timeout_seconds: int = Field(30, ge=1, le=3600)
    health_check: HealthCheck | None = None
    rollback: dict[OS, list[Step]] = Field(default_factory=dict)
    cooldown_minutes: int = Field(0, ge=0, le=10_080)

    @model_validator(mode="before")
    @classmethod
    def _windows_default_shell(cls, data: Any) -> Any:
        """Under windows a step without ``shell`` is PowerShell (under linux it is sh)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for section in ("steps", "rollback"):
            block = data.get(section)
            if isinstance(block, dict) and isinstance(block.get("windows"), list):
                block = dict(block)
                block["windows"] = [
                    {**s, "shell": s.get("shell", "powershell")} if isinstance(s, dict) else s for s in block["windows"]
                ]
                data[section] = block
        return data

    @model_validator(mode="after")
    def _whole(self) -> RunbookSpec:
        problems = _whole_problems(self)
        if problems:
            raise SpecProblems(problems)
        return self

    @property
    def oses(self) -> list[str]:
        return [os for os in ("linux", "windows") if self.steps.get(os)]

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)


def placeholders(text: str) -> list[str]:
    """The parameter names used as ``{{ name }}`` in ``text`` (malformed ones as written)."""
    return [inner.strip() for inner in PLACEHOLDER_RE.findall(text)]


def _whole_problems(spec: RunbookSpec) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    declared = {p.name for p in spec.parameters}
    if spec.auto_approve and spec.risk != "low":
        problems.append(
            (
                ("auto_approve",),
                f"auto_approve is allowed only for low-risk runbooks (this one is "
                f"{spec.risk}); remove it or lower the risk",
            )
        )
    if not spec.steps:
        problems.append((("steps",), "a runbook needs steps for linux, windows or both"))
    seen: set[str] = set()
    for i, param in enumerate(spec.parameters):
        if param.name in seen:
            problems.append((("parameters", i, "name"), f"parameter '{param.name}' is declared twice"))
        seen.add(param.name)
        if param.choices and param.type != "string":
            problems.append((("parameters", i, "choices"), f"'choices' needs a string parameter ('{param.name}')"))
        if param.pattern and param.type != "string":
            problems.append((("parameters", i, "pattern"), f"'pattern' needs a string parameter ('{param.name}')"))
        if param.default is not None:
            try:
                check_value(param, param.default)
            except Invalid as exc:
                problems.append((("parameters", i, "default"), f"default: {exc.message}"))
    for section in ("steps", "rollback"):
        block: dict[str, list[Step]] = getattr(spec, section)
        for os, steps in block.items():
            if section == "steps" and not steps:
                problems.append(((section, os), f"no {os} steps listed: add steps or remove '{os}:'"))
            if section == "rollback" and steps and os not in spec.oses:
                problems.append(((section, os), f"rollback for {os} but the runbook has no {os} steps"))
            for i, step in enumerate(steps):
                loc: tuple[str | int, ...] = (section, os, i)
                if os == "windows" and step.shell != "powershell":
                    problems.append(((*loc, "shell"), f"windows steps run in powershell, not {step.shell}"))
                if os == "linux" and step.shell == "powershell":
                    problems.append(((*loc, "shell"), "powershell steps belong under windows"))
                problems += [((*loc, "run"), m) for m in _placeholder_problems(step.run, declared)]
    health = spec.health_check
    if health is not None:
        if health.kind == "command":
            if isinstance(health.command, dict):
                for os in spec.oses:
                    if not health.command.get(os):  # type: ignore[call-overload]
                        problems.append((("health_check", "command"), f"no health check command for {os}"))
                for os, command in health.command.items():
                    problems += [(("health_check", "command", os), m) for m in _placeholder_problems(command, declared)]
            elif health.command:
                if len(spec.oses) > 1:
                    problems.append(
                        (
                            ("health_check", "command"),
                            "the runbook has linux and windows steps: give "
                            "one health command per OS (linux: ..., windows: ...)",
                        )
                    )
                problems += [(("health_check", "command"), m) for m in _placeholder_problems(health.command, declared)]
        if health.url:
            problems += [(("health_check", "url"), m) for m in _placeholder_problems(health.url, declared, url=True)]
    return problems


def _placeholder_problems(text: str, declared: set[str], *, url: bool = False) -> list[str]:
    problems = []
    for name in placeholders(text):
        if not PARAM_NAME_RE.match(name):
            problems.append(f"'{{{{{name}}}}}' is not a placeholder: use {{{{ parameter_name }}}}")
        elif name not in declared:
            problems.append(f"{{{{ {name} }}}} names no declared parameter (declare it under 'parameters')")
    if not url and QUOTED_PLACEHOLDER_RE.search(text):
        problems.append("do not put quotes around a placeholder: every value is quoted for the shell already")
    return problems


def spec_hash(spec: RunbookSpec) -> str:
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
