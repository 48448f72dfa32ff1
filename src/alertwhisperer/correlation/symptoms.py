"""Symptom classes: map what a tool says (signature, labels, message) to one canonical class.

Taxonomy: disk, cpu, memory, oom, host_down, service_down:<service>, http_errors, latency, db_connections,
db_slow, replication, network, certificate, backup, security, other.

Classification looks at three texts in turn and stops at the first that any rule matches: the signature,
then the well-known labels (``alertname``, ``metric_name``, ``monitor_type``, ...), then the message. Within
one text the rules are tried in order (company rules first, then the built-in ones in ``symptom_rules``).
Occurrences of the alert's own host name are removed first, so "High CPU on backup-01" is cpu, not backup.

Which class can cause which (the relations the engine groups by) is in ``causality``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alertwhisperer.correlation import symptom_rules as data

BASE_CLASSES: frozenset[str] = frozenset({
    "disk", "cpu", "memory", "oom", "host_down", "service_down", "http_errors", "latency", "db_connections",
    "db_slow", "replication", "network", "certificate", "backup", "security", "other",
})

STORM_FAMILY: frozenset[str] = frozenset({"host_down", "network"})


def base_class(symptom: str) -> str:
    return symptom.split(":", 1)[0]


def in_storm_family(symptom: str, classes: Iterable[str] = STORM_FAMILY) -> bool:
    return base_class(symptom) in set(classes)


class SymptomRule(BaseModel):
    """A company's own rule, tried before the built-in ones. ``symptom`` may be ``service_down:{service}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    pattern: str = Field(min_length=1, max_length=2000, description="case-insensitive regex on normalised text")
    symptom: str = Field(min_length=1, max_length=100)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return value

    @field_validator("symptom")
    @classmethod
    def _known(cls, value: str) -> str:
        if base_class(value) not in BASE_CLASSES:
            raise ValueError(f"unknown symptom class {value!r}; use one of {sorted(BASE_CLASSES)}")
        return value


@dataclass(frozen=True, slots=True)
class Symptom:
    name: str  # e.g. "disk", "service_down:nginx"
    rule: str  # the rule id that matched ("default" when none did)
    field: str  # "signature" | "labels" | "message" | ""


OTHER = Symptom("other", "default", "")

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[0-9])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[_\-\s]+")
_JOINS = (("my sql", "mysql"), ("postgre sql", "postgresql"), ("maria db", "mariadb"), ("mongo db", "mongodb"),
          ("o auth", "oauth"), ("i os", "ios"), ("http s", "https"), ("ms sql", "mssql"))
_KNOWN_SERVICE = re.compile(rf"\b(?:{data._SVC})\b")


def normalise(text: str) -> str:
    """CamelCase to words, separators to spaces, lower case (see ``symptom_rules``)."""
    text = _SEPARATORS.sub(" ", _CAMEL.sub(" ", text)).strip().lower()
    for a, b in _JOINS:
        if a in text:  # whole words only: "http service" is not "httpservice"
            text = re.sub(rf"\b{a}\b", b, text)
    return text


def canonical_service(name: str) -> str:
    name = normalise(name).strip(" .'\"")
    name = re.sub(r"\.service$|\.exe$| service$", "", name)
    name = re.sub(r"[\s@]?\d+(?:\.\d+)*$", "", name).strip()  # postgresql 14, redis@6379
    if name in data.SERVICE_ALIASES:
        return data.SERVICE_ALIASES[name]
    return re.sub(r"\s+", "-", name) or "unknown"


@dataclass(frozen=True, slots=True)
class _Compiled:
    id: str
    symptom: str
    regex: re.Pattern[str]


def _compile(rules: Iterable[tuple[str, str, str]]) -> tuple[_Compiled, ...]:
    return tuple(_Compiled(rid, sym, re.compile(pat, re.IGNORECASE)) for rid, sym, pat in rules)


_BUILTIN = _compile(data.RULES)
_LABEL_KEYS = frozenset(k.lower() for k in data.CLASSIFY_LABELS)
_SERVICE_LABELS = tuple(k.lower() for k in data.SERVICE_LABELS)
_SERVICE_LABEL_SET = frozenset(_SERVICE_LABELS)
_PORT_IN_REF = re.compile(r":(\d{2,5})(?:/|$)")
_PORT_HINT = re.compile(r"\b(?:econnrefused|refused|port|connect\w*)\b.*?[: ](\d{2,5})\b")
_PORT_SUFFIX = re.compile(r":\d{1,5}$")


class SymptomClassifier:
    """Ordered rules, compiled once. Build one per company that has its own rules (``for_rules`` caches)."""

    def __init__(self, extra_rules: Sequence[SymptomRule] = ()) -> None:
        self._rules = _compile((r.id, r.symptom, r.pattern) for r in extra_rules) + _BUILTIN
        self._cache: dict[tuple[str, str], tuple[_Compiled, re.Match[str], str] | None] = {}
        self._results: dict[tuple[object, ...], Symptom] = {}

    def classify(self, signature: str, message: str = "", labels: Mapping[str, str] | None = None,
                 asset_ref: str | None = None, host: str | None = None) -> Symptom:
        labels = labels or {}
        label_text = " ".join(f"{k.lower()}={v}" for k, v in sorted(labels.items())
                              if k.lower() in _LABEL_KEYS and v)
        # the result depends on these texts only (service labels: the few that name a service)
        service_labels = tuple((k, v) for k, v in labels.items() if k.lower() in _SERVICE_LABEL_SET) \
            if labels else ()
        memo = (signature, message, label_text, service_labels, asset_ref, host)
        found = self._results.get(memo)
        if found is None:
            found = self._classify(signature, message, labels, asset_ref, host, label_text)
            if len(self._results) > 20_000:
                self._results.clear()
            self._results[memo] = found
        return found

    def _classify(self, signature: str, message: str, labels: Mapping[str, str], asset_ref: str | None,
                  host: str | None, label_text: str) -> Symptom:
        ref_host = _PORT_SUFFIX.sub("", asset_ref) if asset_ref else None
        strip = sorted((s for s in {ref_host, host} if s and len(s) >= 3), key=len, reverse=True)
        texts = (("signature", signature), ("labels", label_text), ("message", message[:2000]))
        for field, raw in texts:
            if not raw:
                continue
            for s in strip:
                raw = _remove_ci(raw, s)
            text = normalise(raw)
            found = self._match(field, text)
            if found is not None:
                rule, match, _ = found
                context = f"{normalise(signature)} | {normalise(message[:2000])}"
                return Symptom(self._fill(rule, match, text, context, labels, asset_ref), rule.id, field)
        return OTHER

    def _match(self, field: str, text: str) -> tuple[_Compiled, re.Match[str], str] | None:
        key = (field, text)
        if field != "message" and key in self._cache:
            return self._cache[key]
        found = None
        for rule in self._rules:
            match = rule.regex.search(text)
            if match is not None:
                found = (rule, match, text)
                break
        if field != "message":
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[key] = found
        return found

    @staticmethod
    def _fill(rule: _Compiled, match: re.Match[str], text: str, context: str, labels: Mapping[str, str],
              asset_ref: str | None) -> str:
        if "{service}" not in rule.symptom:
            return rule.symptom
        groups = match.groupdict()
        service = groups.get("service") or groups.get("service2")
        if not service:
            port = groups.get("port") or groups.get("port2")
            if port and int(port) in data.PORT_SERVICES:
                service = data.PORT_SERVICES[int(port)]
            elif port:
                service = f"port-{int(port)}"
        if not service:
            known = _KNOWN_SERVICE.search(text) or _KNOWN_SERVICE.search(context)
            service = known.group(0) if known else None
        if not service:
            hint = _PORT_HINT.search(context)
            if hint and int(hint.group(1)) in data.PORT_SERVICES:
                service = data.PORT_SERVICES[int(hint.group(1))]
        if not service:
            lowered = {k.lower(): v for k, v in labels.items()}
            service = next((lowered[k] for k in _SERVICE_LABELS if lowered.get(k)), None)
        if not service and asset_ref:
            port_match = _PORT_IN_REF.search(asset_ref)
            if port_match and int(port_match.group(1)) in data.PORT_SERVICES:
                service = data.PORT_SERVICES[int(port_match.group(1))]
        return rule.symptom.replace("{service}", canonical_service(service) if service else "unknown")


def _remove_ci(text: str, needle: str) -> str:
    lowered, n = text.lower(), needle.lower()
    at = lowered.find(n)
    while at >= 0:
        text = text[:at] + " " + text[at + len(n):]
        lowered = text.lower()
        at = lowered.find(n)
    return text


_DEFAULT = SymptomClassifier()


def default_classifier() -> SymptomClassifier:
    return _DEFAULT


@lru_cache(maxsize=256)
def for_rules(rules: tuple[SymptomRule, ...]) -> SymptomClassifier:
    """The classifier for a company's extra rules (cached: policies are immutable)."""
    return SymptomClassifier(rules) if rules else _DEFAULT


def classify(signature: str, message: str = "", labels: Mapping[str, str] | None = None,
             asset_ref: str | None = None, host: str | None = None) -> Symptom:
    """Classify with the built-in rules only."""
    return _DEFAULT.classify(signature, message, labels, asset_ref, host)
