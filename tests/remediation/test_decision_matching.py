"""Matching (pure): which runbooks fit an incident, how they rank, and why the others cannot run."""

from __future__ import annotations

from typing import Any

from alertwhisperer.remediation.matching import IncidentFacts, match, prefer
from alertwhisperer.remediation.models import Runbook, RunbookVersion
from alertwhisperer.remediation.runbooks import EffectiveRunbook
from alertwhisperer.remediation.spec import RunbookSpec

LINUX = {"linux": [{"name": "Do it", "run": "true"}]}
WINDOWS = {"windows": [{"name": "Do it", "run": "Write-Output ok"}]}


def rb(
    name: str,
    *,
    risk: str = "low",
    symptoms: list[str] | None = None,
    signature: str | None = None,
    types: list[str] | None = None,
    tags: dict[str, str] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    steps: dict[str, Any] | None = None,
) -> EffectiveRunbook:
    spec = RunbookSpec.model_validate(
        {
            "name": name,
            "title": name.replace("-", " ").title(),
            "risk": risk,
            "trigger": {
                "symptoms": symptoms or [],
                "signature_pattern": signature,
                "asset_types": types or [],
                "asset_tags": tags or {},
            },
            "parameters": parameters or [],
            "steps": steps or LINUX,
        }
    )
    runbook = Runbook(id=f"id-{name}", slug=name, title=spec.title, risk=risk, scope="")
    version = RunbookVersion(id=f"v-{name}", runbook_id=runbook.id, version=1, yaml="", spec={}, spec_hash="x")
    return EffectiveRunbook(runbook=runbook, version=version, spec=spec, overridden=False)


def facts(symptom: str = "service_down:nginx", **kw: Any) -> IncidentFacts:
    base: dict[str, Any] = {
        "symptom": symptom,
        "symptoms": (symptom,),
        "signatures": ("NginxDown",),
        "severity": "critical",
        "asset_name": "web-1",
        "asset_type": "server",
        "asset_tags": {"role": "web", "env": "prod"},
        "labels": {},
        "os": "linux",
    }
    base.update(kw)
    return IncidentFacts(**base)


def slugs(result: Any) -> list[str]:
    return [c.slug for c in result.candidates]


def test_exact_symptom_beats_a_glob_and_says_why() -> None:
    result = match(
        facts(),
        [rb("restart-service", symptoms=["service_down:*"]), rb("restart-nginx", symptoms=["service_down:nginx"])],
    )
    assert slugs(result) == ["restart-nginx", "restart-service"]
    best, other = result.candidates
    assert best.score > other.score
    assert "symptom service_down:nginx matches service_down:nginx exactly" in best.reasons
    assert "symptom service_down:nginx matches service_down:*" in other.reasons
    assert "has linux steps" in best.reasons


def test_no_runbook_fits_an_unrelated_symptom() -> None:
    result = match(
        facts("disk"),
        [rb("restart-nginx", symptoms=["service_down:nginx"]), rb("restart-service", symptoms=["service_down:*"])],
    )
    assert result.candidates == [] and result.rejected == [] and result.best is None


def test_every_given_filter_must_hold() -> None:
    both = rb("nginx-by-sig", symptoms=["service_down:nginx"], signature=r"(?i)\bnginx")
    assert slugs(match(facts(signatures=("NginxDown",)), [both])) == ["nginx-by-sig"]
    assert slugs(match(facts(signatures=("HttpProbeFailed",)), [both])) == []
    reasons = match(facts(), [both]).candidates[0].reasons
    assert r"signature matches /(?i)\bnginx/" in reasons


def test_a_camel_case_alert_name_is_also_read_as_words() -> None:
    bounded = rb("restart-nginx", symptoms=["service_down:nginx"], signature=r"(?i)\bnginx\b")
    result = match(facts(signatures=("NginxDown",)), [bounded])
    assert slugs(result) == ["restart-nginx"]
    assert r"signature matches /(?i)\bnginx\b/ (read as 'nginx down')" in result.candidates[0].reasons
    assert (
        slugs(
            match(
                facts(signatures=("NginxPlusDown",)),
                [rb("exact", symptoms=["service_down:nginx"], signature=r"^NginxDown$")],
            )
        )
        == []
    )


def test_signature_is_searched_in_every_alert_of_the_incident() -> None:
    sig = rb("by-sig", signature="Postgres(ql)?Down")
    assert slugs(match(facts("host_down", signatures=("HostDown", "PostgresDown")), [sig])) == ["by-sig"]


def test_asset_types_any_of_and_unknown_asset_fails_them() -> None:
    typed = rb("typed", symptoms=["disk"], types=["database", "server"])
    assert slugs(match(facts("disk", asset_type="server"), [typed])) == ["typed"]
    assert "asset type server ok" in match(facts("disk"), [typed]).candidates[0].reasons
    assert slugs(match(facts("disk", asset_type="network"), [typed])) == []
    assert slugs(match(facts("disk", asset_type=None, os=None), [typed])) == []
    assert slugs(match(facts("disk", asset_type=None, os=None), [rb("any", symptoms=["disk"])])) == ["any"]


def test_asset_tags_all_of() -> None:
    tagged = rb("tagged", symptoms=["disk"], tags={"role": "web", "env": "prod"})
    assert slugs(match(facts("disk"), [tagged])) == ["tagged"]
    assert "asset tags env=prod, role=web ok" in match(facts("disk"), [tagged]).candidates[0].reasons
    assert slugs(match(facts("disk", asset_tags={"role": "web"}), [tagged])) == []
    assert slugs(match(facts("disk", asset_tags={"role": "web", "env": "staging"}), [tagged])) == []


def test_more_filters_win_over_fewer_on_the_same_symptom() -> None:
    plain = rb("a-plain", symptoms=["disk"])
    narrow = rb("z-narrow", symptoms=["disk"], types=["server"], tags={"role": "web"})
    assert slugs(match(facts("disk"), [plain, narrow])) == ["z-narrow", "a-plain"]


def test_a_more_literal_glob_wins_over_a_broader_one() -> None:
    broad = rb("a-broad", symptoms=["service_down*"])
    narrow = rb("b-narrow", symptoms=["service_down:ngin?"])
    assert slugs(match(facts(), [broad, narrow])) == ["b-narrow", "a-broad"]


def test_ties_go_to_the_lower_risk_then_the_slug() -> None:
    runbooks = [
        rb("c-high", risk="high", symptoms=["disk"]),
        rb("b-low", symptoms=["disk"]),
        rb("a-medium", risk="medium", symptoms=["disk"]),
        rb("a-low", symptoms=["disk"]),
    ]
    assert slugs(match(facts("disk"), runbooks)) == ["a-low", "b-low", "a-medium", "c-high"]


def test_the_main_symptom_ranks_before_a_secondary_one() -> None:
    f = facts("service_down:nginx", symptoms=("service_down:nginx", "http_errors"))
    runbooks = [rb("for-errors", symptoms=["http_errors"]), rb("for-services", symptoms=["service_down:*"])]
    result = match(f, runbooks)
    assert slugs(result) == ["for-services", "for-errors"]
    assert "symptom http_errors matches http_errors exactly (a secondary symptom)" in result.candidates[1].reasons


def test_a_runbook_without_a_trigger_is_for_manual_runs_only() -> None:
    assert slugs(match(facts(), [rb("patch-install", risk="high")])) == []


def test_no_steps_for_the_assets_os_is_a_rejection_with_the_reason() -> None:
    windows_only = rb("iis-reset", symptoms=["service_down:*"], steps=WINDOWS)
    result = match(facts(), [windows_only])
    assert result.candidates == []
    assert [(r.runbook.spec.name, r.reason) for r in result.rejected] == [
        ("iis-reset", "no steps for linux (the asset's OS)")
    ]
    assert result.rejected[0].summary()["rejected"] == "no steps for linux (the asset's OS)"
    assert slugs(match(facts(os="windows"), [windows_only])) == ["iis-reset"]
    assert slugs(match(facts(os=None), [windows_only])) == ["iis-reset"]  # OS unknown: not filtered


SERVICE = {"name": "service", "from_incident": "service", "required": True, "pattern": "^[A-Za-z0-9_.@-]+$"}


def test_parameters_come_from_the_incident_then_defaults() -> None:
    runbook = rb(
        "restart-service",
        symptoms=["service_down:*"],
        parameters=[
            SERVICE,
            {"name": "host", "from_incident": "asset"},
            {"name": "unit_dir", "default": "/etc/systemd/system"},
            {"name": "team", "from_incident": "label:team", "default": "ops"},
            {"name": "wait", "type": "integer", "default": 5},
        ],
    )
    candidate = match(facts(), [runbook]).candidates[0]
    assert candidate.params == {
        "service": "nginx",
        "host": "web-1",
        "unit_dir": "/etc/systemd/system",
        "team": "ops",
        "wait": 5,
    }
    labelled = match(facts(labels={"team": "web-team"}), [runbook]).candidates[0]
    assert labelled.params["team"] == "web-team"


def test_a_required_parameter_without_a_value_rejects_the_runbook() -> None:
    by_service = rb("restart-service", symptoms=["service_down:*", "cpu"], parameters=[SERVICE])
    result = match(facts("cpu"), [by_service])
    assert result.candidates == []
    assert result.rejected[0].reason == (
        "parameter service has no value: it needs the service of a service_down:<x> symptom"
    )
    by_label = rb(
        "kill-process",
        symptoms=["cpu"],
        parameters=[{"name": "pid", "type": "integer", "required": True, "from_incident": "label:pid"}],
    )
    assert "the alerts' label 'pid'" in match(facts("cpu"), [by_label]).rejected[0].reason
    assert match(facts("cpu", labels={"pid": "4242"}), [by_label]).candidates[0].params == {"pid": 4242}
    plain_required = rb("needs-input", symptoms=["cpu"], parameters=[{"name": "path", "required": True}])
    assert "required and the incident does not provide it" in match(facts("cpu"), [plain_required]).rejected[0].reason


def test_an_incident_value_that_breaks_the_parameters_pattern_is_refused() -> None:
    runbook = rb("restart-service", symptoms=["service_down:*"], parameters=[SERVICE])
    result = match(facts("service_down:nginx;reboot", symptoms=("service_down:nginx;reboot",)), [runbook])
    assert result.candidates == [] and result.rejected[0].reason.startswith("parameters not valid:")


def test_prefer_moves_a_candidate_first_and_ignores_strangers() -> None:
    result = match(
        facts(),
        [rb("restart-service", symptoms=["service_down:*"]), rb("restart-nginx", symptoms=["service_down:nginx"])],
    )
    assert slugs(prefer(result, "restart-service")) == ["restart-service", "restart-nginx"]
    assert slugs(prefer(result, "format-disk")) == ["restart-nginx", "restart-service"]


def test_summaries_are_json_ready() -> None:
    result = match(facts(), [rb("restart-nginx", symptoms=["service_down:nginx"])])
    summary = result.candidates[0].summary()
    assert summary["slug"] == "restart-nginx" and summary["version"] == 1 and summary["risk"] == "low"
    assert isinstance(summary["why"], list) and summary["score"] == result.candidates[0].score
