"""The shipped runbook library: every file loads, validates, renders, and its shell scripts parse."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from alertwhisperer.errors import Invalid
from alertwhisperer.remediation.library import LIBRARY_DIR, shipped
from alertwhisperer.remediation.spec import (
    RunbookSpec,
    dump_yaml,
    parse_yaml,
    render_health_command,
    render_script,
    validate_params,
)

# A realistic value for each required parameter of the library (a new required parameter must be added here).
SAMPLES = {"service": "nginx", "path": "/var/www/html", "process": "php-cgi", "container": "web-1"}
REQUIRED_TOPICS = [
    "disk-cleanup",
    "log-rotation",
    "restart-nginx",
    "restart-apache",
    "restart-postgresql",
    "restart-mysql",
    "restart-redis",
    "restart-service",
    "drop-page-cache",
    "memory-relief",
    "renew-certificate",
    "fix-permissions",
    "database-health-check",
    "docker-prune",
    "kill-runaway-process",
    "windows-service-restart",
    "iis-app-pool-recycle",
    "iis-reset",
    "windows-disk-cleanup",
    "patch-install",
    "ssh-bruteforce-mitigation",
    "ntp-resync",
    "dns-cache-flush",
]
READ_ONLY = {"database-health-check", "disk-usage-report"}  # diagnostics: no health check, nothing to undo


def params_for(spec: RunbookSpec) -> dict[str, object]:
    return {p.name: SAMPLES[p.name] for p in spec.parameters if p.required and p.default is None}


def sh_syntax_ok(script: str, shell: str) -> None:
    interpreter = shutil.which("dash" if shell == "sh" else "bash") or "/bin/sh"
    result = subprocess.run([interpreter, "-n"], input=script, capture_output=True, text=True, timeout=10, check=False)
    assert result.returncode == 0, result.stderr


def test_the_library_has_at_least_twenty_distinct_runbooks() -> None:
    files = sorted(LIBRARY_DIR.glob("*.yaml"))
    library = shipped()
    assert len(files) == len(library) >= 20
    assert set(REQUIRED_TOPICS) <= set(library)
    titles = [item.spec.title for item in library.values()]
    assert len(set(titles)) == len(titles)


@pytest.mark.parametrize("slug", sorted(shipped()))
def test_each_shipped_runbook_validates_and_renders(slug: str) -> None:
    item = shipped()[slug]
    spec = parse_yaml(item.text)
    assert spec.name == slug and spec.description.strip() and spec.category
    assert not spec.auto_approve or spec.risk == "low"
    assert spec.oses, "steps for at least one OS"
    assert spec.health_check is not None or slug in READ_ONLY
    assert yaml.safe_load(item.text)["name"] == slug
    assert parse_yaml(dump_yaml(spec)) == spec  # the console's YAML view of a stored spec reads back the same
    params = params_for(spec)
    validate_params(spec, params)
    for os in spec.oses:
        script, shell = render_script(spec, os, params)
        for step in spec.steps[os]:  # type: ignore[index]
            assert step.name in script
        if os == "linux":
            assert shell in ("sh", "bash") and script.startswith("set -u\n")
            sh_syntax_ok(script, shell)
        else:
            assert shell == "powershell" and script.startswith("$ErrorActionPreference = 'Stop'")
        health = render_health_command(spec, os, params)
        if spec.health_check is not None and spec.health_check.kind == "command":
            assert health is not None
            if os == "linux":
                sh_syntax_ok(health[0], "sh")
        if spec.rollback.get(os):  # type: ignore[call-overload]
            rollback, rollback_shell = render_script(spec, os, params, rollback=True)
            if os == "linux":
                sh_syntax_ok(rollback, rollback_shell)


def test_only_safe_runbooks_auto_approve() -> None:
    auto = {slug for slug, item in shipped().items() if item.spec.auto_approve}
    assert auto <= {
        "disk-cleanup",
        "restart-nginx",
        "restart-apache",
        "renew-certificate",
        "database-health-check",
        "windows-disk-cleanup",
        "ntp-resync",
        "dns-cache-flush",
        "disk-usage-report",
    }
    risky = {slug: item.spec.risk for slug, item in shipped().items()}
    assert risky["patch-install"] == "high" and risky["reboot-server"] == "high"
    assert risky["drop-page-cache"] == "medium" and risky["kill-runaway-process"] == "medium"


def test_parameters_that_reach_a_shell_are_restricted() -> None:
    """Every free-text parameter that names something on the host is pattern- or choice-restricted."""
    for slug, item in shipped().items():
        for param in item.spec.parameters:
            if param.type == "string":
                assert param.pattern or param.choices, f"{slug}: parameter {param.name} accepts any text"


def test_hostile_values_never_pass_the_library_patterns() -> None:
    # (Spaces are allowed in some Windows names, e.g. app pools: values are quoted for the shell anyway.)
    hostile = ["nginx; reboot", "$(reboot)", "../../etc", "x\ny", "-rf", "`id`", "a|b", "a&b", "a>b"]
    for item in shipped().values():
        for param in item.spec.parameters:
            if param.type != "string" or not param.pattern:
                continue
            for value in hostile:
                with pytest.raises(Invalid, match=param.name):
                    validate_params(item.spec, {**params_for(item.spec), param.name: value})
