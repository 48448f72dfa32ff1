"""The runbook YAML schema: every validation rule, line numbers, parameters, and rendering that is safe to run."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from alertwhisperer.errors import Invalid
from alertwhisperer.remediation.spec import (
    RunbookSpec,
    SpecError,
    dump_yaml,
    params_from_incident,
    parse_yaml,
    render_health_command,
    render_health_url,
    render_script,
    spec_hash,
    validate_params,
)

GOOD = textwrap.dedent("""\
    name: restart-thing
    title: Restart a thing
    description: restarts it
    category: services
    risk: low
    auto_approve: true
    trigger:
      symptoms: ["service_down:*", disk]
      signature_pattern: '(?i)thing'
    parameters:
      - name: service
        required: true
        pattern: '[a-z0-9@._-]+'
        from_incident: service
      - name: count
        type: integer
        default: 3
      - name: force
        type: boolean
        default: false
      - name: mode
        choices: [soft, hard]
        default: soft
    steps:
      linux:
        - name: Restart
          run: systemctl restart {{ service }}
      windows:
        - name: Restart
          run: Restart-Service -Name {{ service }}
    health_check:
      kind: command
      command:
        linux: systemctl is-active {{ service }}
        windows: if ((Get-Service {{ service }}).Status -ne 'Running') { exit 1 }
    rollback:
      linux:
        - name: Undo
          run: echo undo {{ mode }}
    timeout_seconds: 120
    cooldown_minutes: 5
""")


def problems(text: str) -> list[dict[str, object]]:
    with pytest.raises(SpecError) as info:
        parse_yaml(text)
    assert info.value.status_code == 422
    found: list[dict[str, object]] = info.value.details["problems"]
    return found


def one(text: str) -> dict[str, object]:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_a_good_runbook_parses_with_defaults() -> None:
    spec = parse_yaml(GOOD)
    assert spec.name == "restart-thing" and spec.risk == "low" and spec.auto_approve
    assert spec.steps["linux"][0].shell == "sh" and spec.steps["windows"][0].shell == "powershell"
    assert spec.delivery_timeout_seconds == 30 and spec.timeout_seconds == 120
    assert spec.oses == ["linux", "windows"]
    assert spec.trigger.matches_symptom("service_down:nginx") and spec.trigger.matches_symptom("disk")
    assert not spec.trigger.matches_symptom("cpu")
    assert spec.trigger.matches_signature("the THING broke") and not spec.trigger.matches_signature("other")


def test_dump_parses_back_equal_and_hash_is_stable() -> None:
    spec = parse_yaml(GOOD)
    again = parse_yaml(dump_yaml(spec))
    assert again == spec
    assert spec_hash(again) == spec_hash(spec) and len(spec_hash(spec)) == 64
    changed = parse_yaml(GOOD.replace("timeout_seconds: 120", "timeout_seconds: 121"))
    assert spec_hash(changed) != spec_hash(spec)
    # Formatting and comments do not change the hash: only the meaning does.
    assert spec_hash(parse_yaml("# comment\n" + GOOD)) == spec_hash(spec)


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("name: restart-thing", "name: Restart Thing", 1, "name", "slug"),
        ("title: Restart a thing", "title: ''", 2, "title", "empty"),
        ("risk: low", "risk: extreme", 5, "risk", "'low', 'medium' or 'high'"),
        ("cooldown_minutes: 5", "cooldown_minute: 5", 41, "cooldown_minute", "did you mean 'cooldown_minutes'"),
        (
            "signature_pattern: '(?i)thing'",
            "signature_pattern: '(['",
            9,
            "trigger.signature_pattern",
            "regular expression",
        ),
        ("  - name: count", "  - name: 2count", 15, "parameters.1.name", "not a valid parameter name"),
        ("    type: integer", "    type: float", 16, "parameters.1.type", "'string', 'integer' or 'boolean'"),
        ("    from_incident: service", "    from_incident: hostname", 14, "parameters.0.from_incident", "label:<key>"),
        (
            "  windows:\n    - name: Restart\n      run: Restart",
            "  macos:\n    - name: Restart\n      run: Restart",
            28,
            "steps.macos",
            "'linux' or 'windows'",
        ),
        ("timeout_seconds: 120", "timeout_seconds: 0", 40, "timeout_seconds", "greater than or equal to 1"),
        ("  kind: command", "  kind: ping", 32, "health_check.kind", "'command', 'http' or 'alert_resolved'"),
    ],
)
def test_field_problems_name_the_line(old: str, new: str, line: int, field: str, words: str) -> None:
    assert old in GOOD
    problem = one(GOOD.replace(old, new))
    assert problem["line"] == line, problem
    assert problem["field"] == field
    assert words in str(problem["message"])


def test_missing_required_field_points_at_its_parent() -> None:
    problem = one(GOOD.replace("    - name: Undo\n", "    - shell: sh\n"))
    assert problem["field"] == "rollback.linux.0.name" and "'name' is required" in str(problem["message"])
    assert problem["line"] == 38
    top = one(GOOD.replace("risk: low\nauto_approve: true\n", ""))
    assert top["field"] == "risk" and top["line"] is None


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("risk: low", "risk: medium", 6, "auto_approve", "only for low-risk"),
        (
            "run: systemctl restart {{ service }}",
            "run: systemctl restart {{ servce }}",
            27,
            "steps.linux.0.run",
            "{{ servce }} names no declared parameter",
        ),
        (
            "run: systemctl restart {{ service }}",
            "run: systemctl restart {{ 9bad }}",
            27,
            "steps.linux.0.run",
            "is not a placeholder",
        ),
        (
            "run: systemctl restart {{ service }}",
            'run: systemctl restart "{{ service }}"',
            27,
            "steps.linux.0.run",
            "do not put quotes",
        ),
        ("run: echo undo {{ mode }}", "run: echo undo {{ nope }}", 39, "rollback.linux.0.run", "no declared parameter"),
        (
            "linux: systemctl is-active {{ service }}",
            "linux: systemctl is-active {{ svc }}",
            34,
            "health_check.command.linux",
            "no declared parameter",
        ),
        (
            "      run: Restart-Service -Name {{ service }}",
            "      run: Restart-Service\n      shell: bash",
            31,
            "steps.windows.0.shell",
            "windows steps run in powershell",
        ),
        (
            "      run: systemctl restart {{ service }}",
            "      run: Get-Service\n      shell: powershell",
            28,
            "steps.linux.0.shell",
            "belong under windows",
        ),
        ("    default: 3", "    default: many", 17, "parameters.1.default", "not a whole number"),
        ("    default: soft", "    default: medium", 23, "parameters.3.default", "not one of soft, hard"),
        ("  - name: force\n", "  - name: count\n", 18, "parameters.2.name", "declared twice"),
    ],
)
def test_whole_runbook_problems_name_the_line(old: str, new: str, line: int, field: str, words: str) -> None:
    assert old in GOOD
    problem = one(GOOD.replace(old, new))
    assert problem["field"] == field, problem
    assert problem["line"] == line, problem
    assert words in str(problem["message"])


LINUX_ONLY = textwrap.dedent("""\
    name: only-linux
    title: Only linux
    risk: high
    steps:
      linux:
        - name: a
          run: "true"
""")


def test_os_rules() -> None:
    body = '  linux:\n    - name: a\n      run: "true"\n'
    empty = one(LINUX_ONLY.replace(body, "  linux: []\n"))
    assert empty["message"] == "no linux steps listed: add steps or remove 'linux:'" and empty["line"] == 5
    none = one(LINUX_ONLY.replace("steps:\n" + body, "steps: {}\n"))
    assert none["message"] == "a runbook needs steps for linux, windows or both" and none["line"] == 4
    assert "'steps' is required" in str(one("name: xx\ntitle: X\nrisk: low\n")["message"])
    rollback = LINUX_ONLY + "rollback:\n  windows:\n    - name: b\n      run: Get-Date\n"
    problem = one(rollback)
    assert problem["field"] == "rollback.windows" and problem["line"] == 9
    both = GOOD.replace(
        "  command:\n    linux: systemctl is-active {{ service }}\n    windows: if ((Get-Service"
        " {{ service }}).Status -ne 'Running') { exit 1 }\n",
        "  command: systemctl is-active x\n",
    )
    assert "one health command per OS" in str(one(both)["message"])
    missing = GOOD.replace("    windows: if ((Get-Service {{ service }}).Status -ne 'Running') { exit 1 }\n", "")
    assert "no health check command for windows" in str(one(missing)["message"])
    assert "needs 'url'" in str(one(LINUX_ONLY + "health_check:\n  kind: http\n")["message"])


def test_yaml_level_problems() -> None:
    syntax = one("name: x\ntitle: [unclosed\nrisk: low\n")
    assert syntax["line"] in (2, 3) and "YAML syntax error" in str(syntax["message"])
    dup = one(LINUX_ONLY + "risk: low\n")
    assert dup["line"] == 8 and "appears twice (first on line 3)" in str(dup["message"])
    assert "aliases" in str(one("a: &x 1\nb: *x\n")["message"])
    assert "mapping" in str(one("- just\n- a list\n")["message"])
    assert "empty" in str(one("   \n")["message"])
    assert "larger than" in str(one("x: " + "a" * 70_000)["message"])


def test_several_problems_are_all_reported_sorted_by_line() -> None:
    found = problems(GOOD.replace("name: restart-thing", "name: BAD").replace("risk: low", "risk: nope"))
    assert [p["line"] for p in found] == [1, 5]


def test_validate_params_applies_defaults_coerces_and_checks() -> None:
    spec = parse_yaml(GOOD)
    assert validate_params(spec, {"service": "nginx"}) == {
        "service": "nginx",
        "count": 3,
        "force": False,
        "mode": "soft",
    }
    assert validate_params(spec, {"service": "nginx", "count": "7", "force": "yes", "mode": "hard"})["count"] == 7
    assert validate_params(spec, {"service": "nginx", "force": "yes"})["force"] is True
    cases = [
        ({}, "'service' is required"),
        ({"service": "x; rm -rf /"}, "does not match the allowed pattern"),
        ({"service": "a", "count": "ten"}, "not a whole number"),
        ({"service": "a", "count": True}, "whole"),
        ({"service": "a", "force": "maybe"}, "not true or false"),
        ({"service": "a", "mode": "x"}, "not one of"),
        ({"service": "a", "other": 1}, "unknown parameter 'other'"),
        ({"service": "a\nb"}, "one line"),
    ]
    for params, words in cases:
        with pytest.raises(Invalid) as info:
            validate_params(spec, params)
        assert words in info.value.message, (params, info.value.message)
        assert str(info.value.field).startswith("params.")


def test_params_from_incident() -> None:
    spec = parse_yaml(
        GOOD.replace(
            "from_incident: service",
            "from_incident: service\n  - name: host\n"
            "    from_incident: asset\n  - name: team\n    from_incident: label:team",
        )
    )
    got = params_from_incident(spec, symptom="service_down:nginx", asset_name="web-1", labels={"team": "ops"})
    assert got == {"service": "nginx", "host": "web-1", "team": "ops"}
    assert params_from_incident(spec, symptom="disk") == {}


INJECT = textwrap.dedent("""\
    name: write-file
    title: Write a file
    risk: low
    parameters:
      - name: text
      - name: code
        type: integer
        default: 0
    steps:
      linux:
        - name: First step
          run: |
            printf '%s\\n' {{ text }} > out.txt
            echo first
        - name: Failing step
          run: |
            echo second
            false
            echo not-reached-inside-step
        - name: Never runs
          run: touch never.txt
""")


def run_sh(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=20, check=False)


def test_rendered_sh_stops_at_the_failing_step_and_quoting_holds(tmp_path: Path) -> None:
    spec = parse_yaml(INJECT)
    hostile = "x; touch pwned.txt $(touch pwned2.txt) `touch pwned3.txt` 'quoted' \"dq\" $HOME"
    script, shell = render_script(spec, "linux", {"text": hostile})
    assert shell == "sh" and script.startswith("set -u\n")
    result = run_sh(script, tmp_path)
    assert result.returncode == 1, result
    assert (tmp_path / "out.txt").read_text() == hostile + "\n"  # one argument, written literally
    assert not list(tmp_path.glob("pwned*")) and not (tmp_path / "never.txt").exists()
    assert result.stdout.splitlines() == ["==> First step", "first", "==> Failing step", "second"]
    assert "step Failing step failed with exit code 1" in result.stderr


def test_rendered_sh_keeps_a_steps_own_exit_code_and_succeeds_otherwise(tmp_path: Path) -> None:
    spec = parse_yaml(INJECT.replace("    false\n", "    exit {{ code }}\n"))
    assert run_sh(render_script(spec, "linux", {"text": "a", "code": 7})[0], tmp_path).returncode == 7
    ok = run_sh(render_script(spec, "linux", {"text": "a", "code": 0})[0], tmp_path)
    assert ok.returncode == 0 and (tmp_path / "never.txt").exists()
    # set -u: an unset variable fails the step instead of expanding to nothing.
    (tmp_path / "never.txt").unlink()
    unset = parse_yaml(INJECT.replace("    false\n", '    echo "[$AW_UNSET_VARIABLE]"\n'))
    assert run_sh(render_script(unset, "linux", {"text": "a"})[0], tmp_path).returncode != 0
    assert not (tmp_path / "never.txt").exists()


def test_rendered_sh_refuses_invalid_params_before_rendering() -> None:
    spec = parse_yaml(GOOD)
    with pytest.raises(Invalid, match="allowed pattern"):
        render_script(spec, "linux", {"service": "nginx; reboot"})
    with pytest.raises(Invalid, match="no rollback steps for windows"):
        render_script(spec, "windows", {"service": "x"}, rollback=True)


UNRESTRICTED = GOOD.replace("    pattern: '[a-z0-9@._-]+'\n", "")


def test_powershell_quoting_and_structure() -> None:
    spec = parse_yaml(UNRESTRICTED)
    script, shell = render_script(spec, "windows", {"service": "it's\u2019 $(x)"})
    assert shell == "powershell"
    assert script.startswith("$ErrorActionPreference = 'Stop'\n")
    assert "Restart-Service -Name 'it''s\u2019\u2019 $(x)'" in script
    assert "Write-Output ('==> ' + 'Restart')" in script
    assert "if ($LASTEXITCODE -ne 0) {" in script and "exit $LASTEXITCODE" in script
    assert script.rstrip().endswith("exit 0")


def test_bash_steps_make_a_bash_script_and_health_rendering() -> None:
    spec = parse_yaml(
        UNRESTRICTED.replace(
            "      run: systemctl restart {{ service }}",
            "      run: systemctl restart {{ service }}\n      shell: bash",
        )
    )
    assert render_script(spec, "linux", {"service": "a b"})[1] == "bash"
    health = render_health_command(parse_yaml(GOOD), "linux", {"service": "nginx"})
    assert health == ("systemctl is-active nginx", "sh")
    win = render_health_command(parse_yaml(UNRESTRICTED), "windows", {"service": "x'y"})
    assert win == ("if ((Get-Service 'x''y').Status -ne 'Running') { exit 1 }", "powershell")
    http = parse_yaml(
        LINUX_ONLY + "parameters:\n  - name: path\n    default: a b/c\nhealth_check:\n  kind: http\n"
        "  url: https://example.test/{{ path }}?x=1\n"
    )
    assert render_health_url(http, {}) == "https://example.test/a%20b%2Fc?x=1"
    assert render_health_command(http, "linux", {}) is None


def test_model_validate_applies_the_same_whole_rules() -> None:
    data = parse_yaml(GOOD).model_dump(mode="json")
    data["risk"] = "high"
    with pytest.raises(ValueError, match="auto_approve is allowed only"):
        RunbookSpec.model_validate(data)


def test_problems_inside_a_multi_line_command_point_at_that_line() -> None:
    text = (
        LINUX_ONLY.replace(
            '      run: "true"\n', '      run: |\n        echo ok\n        echo {{ nope }}\n        echo "{{ x }}"\n'
        )
        + "parameters:\n  - name: x\n"
    )
    found = problems(text)
    assert [(p["line"], str(p["message"])[:20]) for p in found] == [
        (9, "{{ nope }} names no "),
        (10, "do not put quotes ar"),
    ]
