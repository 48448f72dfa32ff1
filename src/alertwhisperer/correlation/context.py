"""The read-only inputs of one company's correlation: its policy, asset index and symptom rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alertwhisperer.correlation.assets import AssetIndex, AssetInfo
from alertwhisperer.correlation.policy import DEFAULT_POLICY, CorrelationPolicy
from alertwhisperer.correlation.symptoms import SymptomClassifier, for_rules


@dataclass(frozen=True, slots=True)
class Tenant:
    """Build once per company (again when its assets or policy change); pass to every ``correlate()``."""

    company_id: str
    policy: CorrelationPolicy
    assets: AssetIndex
    classifier: SymptomClassifier

    @classmethod
    def build(cls, company_id: str, *, assets: Iterable[AssetInfo] = (),
              policy: CorrelationPolicy | None = None) -> Tenant:
        policy = policy or DEFAULT_POLICY
        return cls(company_id=company_id, policy=policy, assets=AssetIndex.build(assets),
                   classifier=for_rules(policy.symptom_rules))
