"""Asset resolution by every name a tool uses, discovered assets and depends_on neighbourhoods."""

from __future__ import annotations

import pytest

from alertwhisperer.correlation.assets import AssetIndex, AssetInfo, format_path, reference_candidates
from tests.correlation.helpers import ACME_ASSETS

INDEX = AssetIndex.build(ACME_ASSETS)


@pytest.mark.parametrize(("ref", "asset_id", "how"), [
    ("acme-db-01", "db", "name"),
    ("ACME-DB-01", "db", "name"),
    ("acme-db-01.acme.internal", "db", "fqdn"),
    ("acme-db-01.acme.internal.", "db", "fqdn"),
    ("acme-db-01.other-domain.example", "db", "short name"),
    ("10.1.0.5", "db", "ip"),
    ("10.1.0.5:9100", "db", "ip"),
    ("i-0abc123def4567890", "db", "instance id"),
    ("I-0ABC123DEF4567890", "db", "instance id"),
    ("arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc123def4567890", "db", "instance id"),
    ("https://acme-db-01.acme.internal:8443/health", "db", "fqdn"),
    ("http://10.1.0.5/", "db", "ip"),
    ("acme-db-01 : 10.1.0.5", "db", "name"),
    ("host:acme-app-01", "app", "name"),
    ("acme-app-01:9100", "app", "name"),
    ("/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/acme-web-01", "web", "name"),
    ("[2001:db8::5]:9100", "v6", "ip"),
    ("2001:DB8:0:0:0:0:0:5", "v6", "ip"),
    ("acme-prod:acme-db-01", "db", "name"),
])
def test_references_resolve_to_the_company_asset(ref: str, asset_id: str, how: str) -> None:
    resolved = INDEX.resolve(ref)
    assert (resolved.asset_id, resolved.matched_by) == (asset_id, how)
    assert resolved.key == asset_id and not resolved.discovered


def test_unknown_references_become_normalised_discovered_keys() -> None:
    for ref in ("10.9.9.9:9100", "10.9.9.9", "https://10.9.9.9/x"):
        assert INDEX.resolve(ref).key == "discovered:10.9.9.9"
    r = INDEX.resolve("New-Host.Example.COM:443")
    assert (r.key, r.name, r.discovered, r.asset_id) == ("discovered:new-host.example.com", "new-host.example.com",
                                                         True, None)


def test_no_reference_falls_back_to_host_labels_or_none() -> None:
    assert INDEX.resolve(None, {"instance": "10.1.0.10:9100"}).asset_id == "app"
    assert INDEX.resolve("", {"Computer": "acme-web-01"}).asset_id == "web"
    nothing = INDEX.resolve(None, {"zone": "eu-1"})
    assert (nothing.key, nothing.matched_by, nothing.discovered) == ("", "none", False)


def test_ambiguous_short_names_are_not_guessed() -> None:
    index = AssetIndex.build([AssetInfo(id="a", name="a", fqdn="web.one.example"),
                              AssetInfo(id="b", name="b", fqdn="web.two.example")])
    assert index.resolve("web").discovered
    assert index.resolve("web.one.example").asset_id == "a"


def test_aliases_and_critical_flag() -> None:
    index = AssetIndex.build([AssetInfo(id="x", name="sql-a", aliases=("legacy-sql",), critical=True)])
    r = index.resolve("LEGACY-SQL:1433")
    assert (r.asset_id, r.matched_by, r.critical) == ("x", "alias", True)


def test_reference_candidates() -> None:
    assert reference_candidates("web-01 : 192.0.2.10") == [("host", "web-01"), ("ip", "192.0.2.10")]
    assert reference_candidates("[::1]:9100") == [("ip", "::1")]


def test_topology_neighbourhood_paths() -> None:
    near = INDEX.neighbourhood("app", depth=3, siblings=True)
    assert near["db"] == ("upstream", ("acme-app-01", "depends_on", "acme-db-01"))
    assert near["lb"] == ("downstream", ("acme-app-01", "depended on by", "acme-lb-01"))
    relation, path = near["app2"]
    assert relation == "sibling"
    assert format_path(path) == "acme-app-01 → depends_on → acme-db-01 → depended on by → acme-app-02"
    assert "app2" not in INDEX.neighbourhood("app", depth=3, siblings=False)
    assert INDEX.neighbourhood("lb", depth=1)["app"][0] == "upstream"
    assert "db" not in INDEX.neighbourhood("lb", depth=1)
    assert INDEX.neighbourhood("lb", depth=2)["db"] == (
        "upstream", ("acme-lb-01", "depends_on", "acme-app-01", "depends_on", "acme-db-01"))
    assert INDEX.ancestors("lb") == {"app", "app2", "db"}
