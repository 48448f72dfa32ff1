"""The service keeps each company's TenantState as a JSON snapshot: a reloaded state decides exactly as the original."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from alertwhisperer.correlation import Tenant, TenantState, correlate, snapshot
from alertwhisperer.ingest.schemas import AlertIn
from tests.correlation.helpers import ACME_ASSETS, T0

STREAM = [
    ("10.1.0.5:9100", "NodeFilesystemAlmostOutOfSpace", "firing", "fp1"),
    ("acme-db-01", "Disk space is low on /", "firing", None),
    ("acme-app-01", "HighErrorRate", "firing", "fp2"),
    ("10.1.0.5:9100", "NodeFilesystemAlmostOutOfSpace", "firing", "fp1"),
    ("mystery-07", "HostDown", "firing", "fp3"),
    ("10.1.0.5:9100", "NodeFilesystemAlmostOutOfSpace", "resolved", "fp1"),
    ("acme-web-01", "TLSCertificateExpiring", "firing", "fp4"),
    ("acme-app-01", "HighErrorRate", "resolved", "fp2"),
    ("acme-app-01", "HighErrorRate", "firing", "fp2"),
]


def _alerts() -> list[AlertIn]:
    return [AlertIn(source="alertmanager", asset_ref=ref, signature=sig, status=status,  # type: ignore[arg-type]
                    external_id=fp, severity="high") for ref, sig, status, fp in STREAM]


def _ids() -> Callable[[], str]:
    counter = iter(range(1000, 2000))
    return lambda: f"inc-{next(counter):06d}"


def test_a_reloaded_snapshot_correlates_like_the_original() -> None:
    tenant = Tenant.build("acme", assets=ACME_ASSETS)
    alerts = _alerts()
    for split in range(len(alerts) + 1):
        original = TenantState("acme")
        for i, alert in enumerate(alerts[:split]):
            correlate(alert, original, tenant=tenant, now=T0 + timedelta(seconds=40 * i), alert_id=f"a{i}")
        data = json.loads(json.dumps(snapshot.dump(original)))  # what the JSON column stores
        reloaded = snapshot.load(data, id_factory=_ids())
        original.id_factory = _ids()
        assert snapshot.dump(reloaded) == data
        for i, alert in enumerate(alerts[split:], start=split):
            now = T0 + timedelta(seconds=40 * i)
            a = correlate(alert, original, tenant=tenant, now=now, alert_id=f"a{i}")
            b = correlate(alert, reloaded, tenant=tenant, now=now, alert_id=f"a{i}")
            assert (a.kind, a.incident_id, a.reason, a.merged) == (b.kind, b.incident_id, b.reason, b.merged)
