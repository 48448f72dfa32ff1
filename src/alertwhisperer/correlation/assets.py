"""Asset resolution: which of the company's assets an alert's ``asset_ref`` names, and their topology.

``AssetIndex.build(assets)`` is done once per tenant (and again when assets change); every lookup after that is
a few dict reads. A reference is tried as given and in parts: URL -> host, ``host:port`` / ``[v6]:port`` ->
host, ``"web-01 : 192.0.2.10"`` (Zabbix) -> both sides, ARNs and Azure/GCP resource ids -> their last segment,
``host:web-01`` (Datadog scope) -> ``web-01``; each candidate is matched case-insensitively against names,
FQDNs, the short host of an FQDN (when only one asset has it), IPs and cloud instance ids. An unknown reference
becomes a *discovered* key (``discovered:<normalised host>``) which the service layer registers as an asset
flagged ``discovered``; after that it resolves like any other asset.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address
from urllib.parse import urlsplit

# Labels tried, in order, when an alert has no asset_ref of its own.
HOST_LABELS: tuple[str, ...] = (
    "instance", "host", "hostname", "host_name", "nodename", "node", "server", "computer", "device",
    "configurationitem", "tag.host", "tag.server_name", "instanceid", "dbinstanceidentifier", "resource",
    "target", "entity", "entity_name", "address",
)


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """What correlation needs to know about one asset (the service layer builds these from the DB)."""

    id: str
    name: str
    type: str = "server"
    ip: str | None = None
    fqdn: str | None = None
    instance_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    critical: bool = False
    depends_on: tuple[str, ...] = ()  # names (or ids) of upstream assets of the same company
    aliases: tuple[str, ...] = ()  # any other references that mean this asset
    discovered: bool = False


@dataclass(frozen=True, slots=True)
class ResolvedAsset:
    key: str  # the asset id, or "discovered:<host>"; "" when the alert names no asset at all
    name: str  # display name
    asset_id: str | None  # None for discovered or missing assets
    matched_by: str  # "name" | "fqdn" | "short name" | "ip" | "instance id" | "alias" | "discovered" | "none"
    critical: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    host: str | None = None  # the host part of the reference (used to strip it from alert texts)

    @property
    def discovered(self) -> bool:
        return self.asset_id is None and bool(self.key)

    @property
    def known(self) -> bool:
        return self.asset_id is not None


NO_ASSET = ResolvedAsset(key="", name="(no asset)", asset_id=None, matched_by="none")

_ARN_RESOURCE = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:(?:[\w-]+[/:])?(.+)$")
_HOST_PORT = re.compile(r"^(.+?):(\d{1,5})$")
_V6_PORT = re.compile(r"^\[([0-9a-f:.%]+)\](?::\d{1,5})?$")


def _ip(value: str) -> str | None:
    try:
        return str(ip_address(value.split("%", 1)[0]))
    except ValueError:
        return None


def reference_candidates(ref: str) -> list[tuple[str, str]]:
    """(kind, value) candidates for a raw reference, most specific first; kind is "ip" or "host"."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(value: str | None) -> None:
        if not value:
            return
        value = value.strip().strip("'\"<>()[]").rstrip(".").lower()
        if not value or value in seen:
            return
        seen.add(value)
        ip = _ip(value)
        out.append(("ip", ip) if ip else ("host", value))

    ref = ref.strip()
    if " : " in ref:  # Zabbix "web-01 : 192.0.2.10"
        for part in ref.split(" : "):
            out.extend(c for c in reference_candidates(part) if c[1] not in seen)
            seen.update(v for _, v in out)
        return out
    lowered = ref.lower()
    if "://" in ref:
        try:
            parts = urlsplit(ref)
            add(parts.hostname)
        except ValueError:
            pass
        return out
    v6 = _V6_PORT.match(lowered)
    if v6:
        add(v6.group(1))
        return out
    if _ip(lowered):
        add(lowered)
        return out
    if lowered.startswith("arn:"):
        add(lowered)
        match = _ARN_RESOURCE.match(lowered)
        if match:
            add(match.group(1).rsplit("/", 1)[-1])
        return out
    if lowered.startswith("host:"):  # Datadog scope
        lowered = lowered[5:]
    host_port = _HOST_PORT.match(lowered)
    if host_port:
        add(host_port.group(1))
        add(lowered)
        return out
    add(lowered)
    if "/" in lowered:  # Azure /subscriptions/.../virtualmachines/NAME, k8s ns/pod, "srv01/mysql"
        add(lowered.rstrip("/").rsplit("/", 1)[-1])
    if ":" in lowered:  # GCP project:instance
        add(lowered.rsplit(":", 1)[-1])
    return out


class AssetIndex:
    """Lookups by every name an asset goes by, plus the depends_on graph (built once per tenant)."""

    def __init__(self, assets: Iterable[AssetInfo] = ()) -> None:
        self.assets: dict[str, AssetInfo] = {}
        self._by_ref: dict[str, tuple[str, str]] = {}  # normalised ref -> (asset id, matched_by)
        self._short: dict[str, set[str]] = {}
        self.upstream: dict[str, frozenset[str]] = {}  # asset id -> ids it depends on directly
        self.downstream: dict[str, frozenset[str]] = {}
        self._ancestors: dict[str, frozenset[str]] = {}
        self._near: dict[tuple[str, int, bool], dict[str, tuple[str, tuple[str, ...]]]] = {}
        self._resolved: dict[str, ResolvedAsset] = {}
        for asset in assets:
            self.assets[asset.id] = asset
        for asset in sorted(self.assets.values(), key=lambda a: a.id):
            self._register(asset)
        self._build_graph()

    @classmethod
    def build(cls, assets: Iterable[AssetInfo]) -> AssetIndex:
        return cls(assets)

    def _register(self, a: AssetInfo) -> None:
        def put(value: str | None, how: str) -> None:
            if value:
                self._by_ref.setdefault(value.strip().rstrip(".").lower(), (a.id, how))

        put(a.name, "name")
        put(a.fqdn, "fqdn")
        put(_ip(a.ip) if a.ip else None, "ip")
        put(a.instance_id, "instance id")
        for alias in a.aliases:
            for _, value in reference_candidates(alias):
                put(value, "alias")
        for full in (a.fqdn, a.name):
            if full and "." in full and not _ip(full):
                self._short.setdefault(full.lower().split(".", 1)[0], set()).add(a.id)

    def _build_graph(self) -> None:
        by_name = {a.name.lower(): a.id for a in self.assets.values()}
        up: dict[str, set[str]] = {aid: set() for aid in self.assets}
        down: dict[str, set[str]] = {aid: set() for aid in self.assets}
        for a in self.assets.values():
            for ref in a.depends_on:
                target = ref if ref in self.assets else by_name.get(ref.lower())
                if target and target != a.id:
                    up[a.id].add(target)
                    down[target].add(a.id)
        self.upstream = {k: frozenset(v) for k, v in up.items()}
        self.downstream = {k: frozenset(v) for k, v in down.items()}

    # --- resolution ------------------------------------------------------------------------------------
    def resolve(self, ref: str | None, labels: Mapping[str, str] | None = None) -> ResolvedAsset:
        """The asset an alert is about; falls back to host-like labels when the alert has no reference."""
        if not ref or not ref.strip():
            ref = _ref_from_labels(labels or {})
            if not ref:
                return NO_ASSET
        cached = self._resolved.get(ref)
        if cached is not None:
            return cached
        result = self._resolve(ref)
        if len(self._resolved) > 100_000:
            self._resolved.clear()
        self._resolved[ref] = result
        return result

    def _resolve(self, ref: str) -> ResolvedAsset:
        candidates = reference_candidates(ref)
        for _, value in candidates:
            hit = self._by_ref.get(value)
            if hit:
                return self._found(hit[0], hit[1], value)
        for kind, value in candidates:
            if kind == "host" and "." in value:
                ids = self._short.get(value.split(".", 1)[0]) or set()
                if len(ids) == 1:
                    return self._found(next(iter(ids)), "short name", value)
                hit = self._by_ref.get(value.split(".", 1)[0])
                if hit:
                    return self._found(hit[0], "short name", value)
            if kind == "host" and "." not in value:
                ids = self._short.get(value) or set()
                if len(ids) == 1:
                    return self._found(next(iter(ids)), "short name", value)
        host = candidates[0][1] if candidates else ref.strip().lower()
        return ResolvedAsset(key=f"discovered:{host}", name=host, asset_id=None, matched_by="discovered",
                             host=host)

    def _found(self, asset_id: str, how: str, host: str) -> ResolvedAsset:
        a = self.assets[asset_id]
        return ResolvedAsset(key=a.id, name=a.name, asset_id=a.id, matched_by=how, critical=a.critical,
                             tags=a.tags, host=host)

    def display_name(self, key: str) -> str:
        asset = self.assets.get(key)
        if asset is not None:
            return asset.name
        return key.removeprefix("discovered:") or "(no asset)"

    def is_critical(self, key: str) -> bool:
        asset = self.assets.get(key)
        return bool(asset and asset.critical)

    # --- topology --------------------------------------------------------------------------------------
    def ancestors(self, asset_id: str) -> frozenset[str]:
        """Every asset ``asset_id`` depends on, transitively (unbounded; the graph is a DAG)."""
        cached = self._ancestors.get(asset_id)
        if cached is not None:
            return cached
        seen: set[str] = set()
        queue = deque(self.upstream.get(asset_id, ()))
        while queue:
            node = queue.popleft()
            if node in seen or node == asset_id:
                continue
            seen.add(node)
            queue.extend(self.upstream.get(node, ()))
        result = frozenset(seen)
        self._ancestors[asset_id] = result
        return result

    def neighbourhood(self, asset_id: str, depth: int, siblings: bool = False
                      ) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Assets within ``depth`` depends_on hops: id -> (relation, path of names).

        relation is "upstream" (asset_id depends on it), "downstream" (it depends on asset_id) or, with
        ``siblings``, "sibling" (both depend on a common upstream within ``depth`` hops of each). A path
        reads like ``("app-01", "depends_on", "db-01")``; for siblings it goes through the common upstream.
        """
        key = (asset_id, depth, siblings)
        cached = self._near.get(key)
        if cached is not None:
            return cached
        name = self.display_name
        result: dict[str, tuple[str, tuple[str, ...]]] = {}
        up_paths = self._walk(asset_id, depth, self.upstream)
        for node, path in up_paths.items():
            result[node] = ("upstream", _path(name, path, "depends_on"))
        for node, path in self._walk(asset_id, depth, self.downstream).items():
            result.setdefault(node, ("downstream", _path(name, path, "depended on by")))
        if siblings:
            for top in sorted(up_paths, key=lambda n: (len(up_paths[n]), n)):
                for node, back in sorted(self._walk(top, depth, self.downstream).items()):
                    if node == asset_id or node in result:
                        continue
                    forward = _path(name, up_paths[top], "depends_on")
                    rest = [name(n) for n in back[1:]]
                    result[node] = ("sibling", (*forward, *[x for n in rest for x in ("depended on by", n)]))
        self._near[key] = result
        return result

    @staticmethod
    def _walk(start: str, depth: int, edges: Mapping[str, frozenset[str]]) -> dict[str, list[str]]:
        paths: dict[str, list[str]] = {}
        frontier = [[start]]
        for _ in range(depth):
            nxt: list[list[str]] = []
            for path in frontier:
                for node in sorted(edges.get(path[-1], ())):
                    if node != start and node not in paths:
                        paths[node] = [*path, node]
                        nxt.append(paths[node])
            frontier = nxt
        return paths


def _path(name: Callable[[str], str], nodes: list[str], verb: str) -> tuple[str, ...]:
    out: list[str] = [name(nodes[0])]
    for node in nodes[1:]:
        out.extend((verb, name(node)))
    return tuple(out)


def _ref_from_labels(labels: Mapping[str, str]) -> str | None:
    lowered = {k.lower(): v for k, v in labels.items() if v}
    return next((lowered[k] for k in HOST_LABELS if lowered.get(k)), None)


def format_path(path: tuple[str, ...]) -> str:
    """("app-01", "depends_on", "db-01") -> "app-01 → depends_on → db-01"."""
    return " → ".join(path)
