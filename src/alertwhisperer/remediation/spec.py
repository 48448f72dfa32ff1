"""The runbook YAML schema: what a runbook says, how its YAML is checked, hashed, and turned into a script.

The one public surface of the schema; the parts live beside it: ``spec_model`` (the pydantic models and the
whole-runbook rules: placeholders name declared parameters, ``auto_approve`` only with low risk, PowerShell only
under windows, rollback and health commands only for operating systems that have steps), ``spec_render``
(parameter values checked and coerced, scripts rendered with every value quoted for the target shell) and
``spec_yaml`` (``parse_yaml`` reports every problem with the line of the offending key; ``dump_yaml``).
"""

from __future__ import annotations

from alertwhisperer.remediation.spec_model import (
    OS,
    PLACEHOLDER_RE,
    HealthCheck,
    Parameter,
    ParamValue,
    RunbookSpec,
    SpecError,
    SpecProblems,
    Step,
    Trigger,
    placeholders,
    spec_hash,
)
from alertwhisperer.remediation.spec_render import (
    check_value,
    params_from_incident,
    quote_for,
    render_health_command,
    render_health_url,
    render_script,
    validate_params,
)
from alertwhisperer.remediation.spec_yaml import dump_yaml, parse_yaml

__all__ = [
    "OS",
    "PLACEHOLDER_RE",
    "HealthCheck",
    "ParamValue",
    "Parameter",
    "RunbookSpec",
    "SpecError",
    "SpecProblems",
    "Step",
    "Trigger",
    "check_value",
    "dump_yaml",
    "params_from_incident",
    "parse_yaml",
    "placeholders",
    "quote_for",
    "render_health_command",
    "render_health_url",
    "render_script",
    "spec_hash",
    "validate_params",
]
