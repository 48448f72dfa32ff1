"""Which runbooks fit an incident: pure (no database), scored, every verdict with a reason a technician can read.

A runbook's trigger fits when every filter it sets holds: ``symptoms`` (any of, exact or glob such as
``service_down:*``), ``signature_pattern`` (a regex searched in the incident's alert signatures, as sent or in
their word form: ``NginxDown`` is also read as ``nginx down``), ``asset_types``
(any of) and ``asset_tags`` (all of). A trigger with neither symptoms nor a signature pattern never fits on its
own: such runbooks are for manual runs only.

Ranking (most specific first): how the symptom matched (the incident's main symptom exactly > the main symptom
by a glob > another of its symptoms exactly > another by a glob; a signature-only trigger ranks with "another
symptom exactly"), then how many filters the trigger sets, then how literal a glob is; ties go to the lower
risk, then the slug. A fitting runbook is still *rejected* (with the reason) when it has no steps for the
asset's OS or a parameter it needs has no value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from alertwhisperer.correlation.symptoms import normalise
from alertwhisperer.errors import Invalid
from alertwhisperer.remediation.runbooks import EffectiveRunbook
from alertwhisperer.remediation.spec import RunbookSpec, validate_params

RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
GLOB_CHARS = frozenset("*?[")
# how the symptom filter held (the first part of a score)
MAIN_EXACT, MAIN_GLOB, OTHER_EXACT, OTHER_GLOB = 4, 3, 2, 1
SIGNATURE_ONLY = OTHER_EXACT


@dataclass(frozen=True)
class IncidentFacts:
    """What matching knows about an incident. ``asset_type`` None: the asset is unknown (discovered from alerts);
    ``os`` None: not known yet (no remote access configured) — runbooks are then not filtered by OS."""

    symptom: str
    symptoms: tuple[str, ...] = ()
    signatures: tuple[str, ...] = ()
    severity: str = ""
    asset_name: str = ""
    asset_type: str | None = None
    asset_tags: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    os: str | None = None

    @property
    def all_symptoms(self) -> tuple[str, ...]:
        rest = tuple(s for s in self.symptoms if s and s != self.symptom)
        return ((self.symptom,) if self.symptom else ()) + rest


@dataclass(frozen=True)
class Candidate:
    runbook: EffectiveRunbook
    score: int
    reasons: tuple[str, ...]
    params: dict[str, Any]

    @property
    def slug(self) -> str:
        return str(self.runbook.spec.name)

    @property
    def risk(self) -> str:
        return str(self.runbook.spec.risk)

    def summary(self) -> dict[str, Any]:
        spec = self.runbook.spec
        return {
            "slug": spec.name,
            "title": spec.title,
            "risk": spec.risk,
            "score": self.score,
            "version": self.runbook.version.version,
            "why": list(self.reasons),
            "params": self.params,
        }


@dataclass(frozen=True)
class Rejection:
    """A runbook whose trigger fits but which cannot run here, and why."""

    runbook: EffectiveRunbook
    reason: str

    def summary(self) -> dict[str, Any]:
        spec = self.runbook.spec
        return {"slug": spec.name, "title": spec.title, "risk": spec.risk, "score": None, "rejected": self.reason}


@dataclass(frozen=True)
class MatchResult:
    candidates: list[Candidate]  # best first
    rejected: list[Rejection]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def _literal_length(pattern: str) -> int:
    return sum(1 for ch in pattern if ch not in GLOB_CHARS)


def _symptom_fit(patterns: Sequence[str], facts: IncidentFacts) -> tuple[int, int, str] | None:
    """(quality, literal length, reason) of the best way a symptom pattern holds, or None."""
    best: tuple[int, int, str] | None = None
    for index, symptom in enumerate(facts.all_symptoms):
        main = index == 0
        for pattern in patterns:
            is_glob = any(ch in GLOB_CHARS for ch in pattern)
            if is_glob and fnmatchcase(symptom, pattern):
                quality = MAIN_GLOB if main else OTHER_GLOB
                found = (quality, _literal_length(pattern), f"symptom {symptom} matches {pattern}")
            elif not is_glob and symptom == pattern:
                quality = MAIN_EXACT if main else OTHER_EXACT
                found = (quality, 99, f"symptom {symptom} matches {pattern} exactly")
            else:
                continue
            if not main:
                found = (found[0], found[1], found[2] + " (a secondary symptom)")
            if best is None or found[:2] > best[:2]:
                best = found
    return best


def _signature_fit(pattern: str, signatures: Sequence[str]) -> str | None:
    """The reason when the regex finds a signature as sent, or in its word form (``NginxDown`` → ``nginx down``,
    the way correlation reads it), so ``\\bnginx\\b`` fits a camel-case alert name; None when it does not."""
    try:
        regex = re.compile(pattern)
    except re.error:
        return None
    for signature in signatures:
        if regex.search(signature):
            return f"signature matches /{pattern}/"
    for signature in signatures:
        words = normalise(signature)
        if words != signature and regex.search(words):
            return f"signature matches /{pattern}/ (read as {words!r})"
    return None


def trigger_fit(spec: RunbookSpec, facts: IncidentFacts) -> tuple[int, list[str]] | None:
    """The score and reasons when every filter of the trigger holds; None otherwise (or manual-only)."""
    trigger = spec.trigger
    if not trigger.symptoms and not trigger.signature_pattern:
        return None
    reasons: list[str] = []
    filters = 0
    quality, literal = SIGNATURE_ONLY, 0
    if trigger.symptoms:
        fit = _symptom_fit(trigger.symptoms, facts)
        if fit is None:
            return None
        quality, literal, why = fit
        reasons.append(why)
    if trigger.signature_pattern:
        why_sig = _signature_fit(trigger.signature_pattern, facts.signatures)
        if why_sig is None:
            return None
        reasons.append(why_sig)
        filters += 1
    if trigger.asset_types:
        if facts.asset_type is None or facts.asset_type not in trigger.asset_types:
            return None
        reasons.append(f"asset type {facts.asset_type} ok")
        filters += 1
    if trigger.asset_tags:
        for key, value in sorted(trigger.asset_tags.items()):
            if facts.asset_tags.get(key) != value:
                return None
        reasons.append("asset tags " + ", ".join(f"{k}={v}" for k, v in sorted(trigger.asset_tags.items())) + " ok")
        filters += 1
    return quality * 1000 + filters * 100 + min(literal, 99), reasons


def service_of(facts: IncidentFacts) -> str | None:
    """The service of a ``service_down:<x>`` symptom (the main symptom first)."""
    for symptom in facts.all_symptoms:
        head, sep, rest = symptom.partition(":")
        if head == "service_down" and sep and rest:
            return rest
    return None


def incident_value(source: str, facts: IncidentFacts) -> str | None:
    """A parameter's value taken from the incident (``from_incident``), or None when it has none."""
    if source == "service":
        return service_of(facts)
    if source == "asset":
        return facts.asset_name or None
    if source.startswith("label:"):
        value = facts.labels.get(source.removeprefix("label:"))
        return value if value else None
    return None


def _describe_source(source: str) -> str:
    if source == "service":
        return "the service of a service_down:<x> symptom"
    if source == "asset":
        return "the asset's name"
    return f"the alerts' label {source.removeprefix('label:')!r}"


def fill_params(spec: RunbookSpec, facts: IncidentFacts) -> tuple[dict[str, Any] | None, str]:
    """Parameter values (from the incident, else defaults) validated by the spec; or None and why not."""
    values: dict[str, Any] = {}
    for parameter in spec.parameters:
        if parameter.from_incident:
            value = incident_value(parameter.from_incident, facts)
            if value is not None:
                values[parameter.name] = value
                continue
            if parameter.required and parameter.default is None:
                return None, (
                    f"parameter {parameter.name} has no value: it needs {_describe_source(parameter.from_incident)}"
                )
        elif parameter.required and parameter.default is None:
            return None, f"parameter {parameter.name} is required and the incident does not provide it"
    try:
        return validate_params(spec, values), ""
    except Invalid as exc:
        return None, f"parameters not valid: {exc.message}"


def match(facts: IncidentFacts, runbooks: Sequence[EffectiveRunbook]) -> MatchResult:
    """Every runbook whose trigger fits, usable ones ranked best first, the others with why they cannot run."""
    candidates: list[Candidate] = []
    rejected: list[Rejection] = []
    for runbook in runbooks:
        spec = runbook.spec
        fit = trigger_fit(spec, facts)
        if fit is None:
            continue
        score, reasons = fit
        if facts.os is not None:
            if facts.os not in spec.oses:
                rejected.append(Rejection(runbook, f"no steps for {facts.os} (the asset's OS)"))
                continue
            reasons.append(f"has {facts.os} steps")
        params, why_not = fill_params(spec, facts)
        if params is None:
            rejected.append(Rejection(runbook, why_not))
            continue
        candidates.append(Candidate(runbook, score, tuple(reasons), params))
    candidates.sort(key=lambda c: (-c.score, RISK_ORDER.get(c.risk, 3), c.slug))
    rejected.sort(key=lambda r: r.runbook.spec.name)
    return MatchResult(candidates, rejected)


def prefer(result: MatchResult, slug: str) -> MatchResult:
    """The same result with ``slug`` first (an advisor's pick); unchanged when it is not a candidate."""
    chosen = [c for c in result.candidates if c.slug == slug]
    if not chosen:
        return result
    return MatchResult(chosen + [c for c in result.candidates if c.slug != slug], result.rejected)
