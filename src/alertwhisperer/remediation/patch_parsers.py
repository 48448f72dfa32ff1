"""Pure parsers for patch compliance: AWS Patch Manager patch states, and the output of the scan script run over
SSH (or the local executor) on Debian/Ubuntu (apt) and RHEL-family (dnf/yum) hosts.

The scan script (``SCAN_SCRIPT``) prints a small line-based format: ``@@`` marker lines carry facts
(``@@os``, ``@@manager``, ``@@installed``, ``@@lists``, ``@@error``) and ``@@begin <name> [b64gz]`` / ``@@end <name>
rc=<n>`` frame the raw output of one package-manager command, kept as the tool printed it so that the parsers below
read exactly what a technician would see on the host. ``b64gz`` sections are gzip+base64 packed (when the host has
both tools), so a host with thousands of pending updates stays well inside the executor's output limit.

Counts mean the same whatever the source: ``installed`` packages, ``missing`` updates (upgradable packages),
``security`` and ``critical`` among the missing, ``failed`` installs (AWS only). apt has no severities, so
``critical`` is 0 there and ``details["severity_reported"]`` is false (the console shows "n/a").
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_PACKAGES = 500  # package rows kept in ``details`` per scan (counts are always complete)

# POSIX sh; no root needed for apt; dnf may refresh its metadata cache. Exit 0 unless the shell itself breaks:
# every problem is reported as ``@@error`` so it ends up in ``PatchState.error``.
SCAN_SCRIPT = r"""
export LC_ALL=C LANG=C
echo '@@aw-patch-scan 1'
if [ ! -r /etc/os-release ]; then echo '@@error no-os-release'; exit 0; fi
( . /etc/os-release; echo "@@os id=${ID:-} version=${VERSION_ID:-} like=$(echo "${ID_LIKE:-}" | tr ' ' ',')";
  echo "@@os-name ${PRETTY_NAME:-${NAME:-}}" )
out=$(mktemp 2>/dev/null || echo "/tmp/aw-patch-scan.$$.out")
err=$(mktemp 2>/dev/null || echo "/tmp/aw-patch-scan.$$.err")
packed=no; command -v gzip >/dev/null 2>&1 && command -v base64 >/dev/null 2>&1 && packed=b64gz
section() {
  name=$1; shift
  "$@" >"$out" 2>"$err"; rc=$?
  if [ "$packed" = b64gz ]; then echo "@@begin $name b64gz"; gzip -c "$out" | base64
  else echo "@@begin $name"; cat "$out"; fi
  printf '\n@@end %s rc=%s\n' "$name" "$rc"
  if [ -s "$err" ]; then echo "@@begin stderr-$name"; head -c 2000 "$err"; printf '\n@@end stderr-%s rc=0\n' "$name"; fi
}
if command -v dpkg-query >/dev/null 2>&1 && command -v apt >/dev/null 2>&1; then
  echo '@@manager apt'
  echo "@@installed $(dpkg-query -W -f='${Status}\n' 2>/dev/null | grep -c ' installed$')"
  lists=$(find /var/lib/apt/lists -maxdepth 1 -name '*Release' -printf '%T@\n' 2>/dev/null | sort -n | tail -n 1)
  echo "@@lists $lists"
  section upgradable apt list --upgradable
elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then
  pm=dnf; command -v dnf >/dev/null 2>&1 || pm=yum
  echo "@@manager $pm"
  echo "@@installed $(rpm -qa 2>/dev/null | wc -l)"
  section check-update "$pm" -q check-update
  section security "$pm" -q updateinfo list --security
else
  echo '@@error unsupported-package-manager'
fi
rm -f "$out" "$err"
echo '@@done'
"""


class ScanError(Exception):
    """The scan could not produce counts (unsupported OS, a failed command, unreadable output)."""


@dataclass(frozen=True)
class PatchCounts:
    source: str  # ssm | apt | dnf
    installed: int
    missing: int
    critical: int
    security: int
    failed: int = 0
    scanned_at: datetime | None = None  # when the source says it scanned (AWS: OperationEndTime)
    details: dict[str, Any] = field(default_factory=dict)


# -- AWS Patch Manager ---------------------------------------------------------------------------------

def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _int(state: dict[str, Any], key: str) -> int:
    value = state.get(key)
    return int(value) if isinstance(value, int | float) else 0


def parse_ssm_patch_state(state: dict[str, Any]) -> PatchCounts:
    """One ``InstancePatchStates`` entry of ``describe_instance_patch_states`` as counts."""
    ended = _when(state.get("OperationEndTime"))
    details: dict[str, Any] = {
        "instance_id": state.get("InstanceId", ""),
        "baseline_id": state.get("BaselineId", ""),
        "patch_group": state.get("PatchGroup", ""),
        "operation": state.get("Operation", ""),
        "reboot_option": state.get("RebootOption", ""),
        "installed_other": _int(state, "InstalledOtherCount"),
        "installed_pending_reboot": _int(state, "InstalledPendingRebootCount"),
        "installed_rejected": _int(state, "InstalledRejectedCount"),
        "other_non_compliant": _int(state, "OtherNonCompliantCount"),
        "not_applicable": _int(state, "NotApplicableCount"),
        "severity_reported": True,
    }
    started = _when(state.get("OperationStartTime"))
    if started is not None:
        details["operation_started_at"] = started.isoformat()
    return PatchCounts(source="ssm", installed=_int(state, "InstalledCount"), missing=_int(state, "MissingCount"),
                       critical=_int(state, "CriticalNonCompliantCount"),
                       security=_int(state, "SecurityNonCompliantCount"), failed=_int(state, "FailedCount"),
                       scanned_at=ended, details=details)


def parse_ssm_patch_states(states: list[dict[str, Any]]) -> dict[str, PatchCounts]:
    """All entries of one or more ``describe_instance_patch_states`` pages, by instance id."""
    return {str(s["InstanceId"]): parse_ssm_patch_state(s) for s in states if s.get("InstanceId")}


# -- apt -----------------------------------------------------------------------------------------------

APT_LINE = re.compile(r"^(?P<name>[^/\s]+)/(?P<suites>\S+)\s+(?P<version>\S+)\s+(?P<arch>\S+)"
                      r"(?:\s+\[upgradable from:\s*(?P<old>[^\]]+)\])?")


def parse_apt_upgradable(text: str) -> list[dict[str, Any]]:
    """``apt list --upgradable`` lines as packages; security when a suite is a ``*-security`` pocket."""
    packages = []
    for line in text.splitlines():
        match = APT_LINE.match(line.strip())
        if not match:
            continue  # "Listing...", "WARNING: apt does not have a stable CLI interface", blank lines
        suites = match["suites"].split(",")
        packages.append({"name": match["name"], "version": match["version"], "arch": match["arch"],
                         "from": (match["old"] or "").strip(), "suites": suites,
                         "security": any(s.endswith("-security") for s in suites)})
    return packages


# -- dnf / yum -----------------------------------------------------------------------------------------

def parse_dnf_check_update(text: str) -> list[dict[str, Any]]:
    """``dnf -q check-update`` rows (``name.arch  version  repo``) up to "Obsoleting Packages"; a name too long
    for its column has its version and repo on the next line."""
    packages: list[dict[str, Any]] = []
    pending: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.lower().startswith(("obsoleting packages", "security:", "last metadata expiration")):
            if line.lower().startswith("obsoleting"):
                break
            continue
        parts = line.split()
        if pending is not None and raw[:1].isspace() and len(parts) == 2:
            parts = [pending, *parts]
        pending = None
        if len(parts) == 1 and "." in parts[0]:
            pending = parts[0]
            continue
        if len(parts) != 3 or "." not in parts[0]:
            continue
        name, _, arch = parts[0].rpartition(".")
        packages.append({"name": name, "arch": arch, "version": parts[1], "repo": parts[2]})
    unique = {(p["name"], p["arch"]): p for p in packages}
    return list(unique.values())


def parse_dnf_updateinfo(text: str) -> list[dict[str, Any]]:
    """``dnf updateinfo list --security`` rows as advisory, severity, package (dnf4: ``RHSA-… Important/Sec.
    pkg``; dnf5: ``NAME security Severity pkg issued``). One row per package name and arch (Critical wins)."""
    rows: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0] in ("Name", "Last"):
            continue
        if parts[1].endswith("/Sec."):
            severity, package = parts[1].removesuffix("/Sec."), parts[2]
        elif parts[1] == "security" and len(parts) >= 4:
            severity, package = parts[2], parts[3]
        elif parts[1] == "security":
            severity, package = "None", parts[2]
        else:
            continue
        row = rows.setdefault(_rpm_key(package), {"advisory": parts[0], "severity": severity, "package": package})
        if severity == "Critical" and row["severity"] != "Critical":
            row.update(advisory=parts[0], severity=severity, package=package)
    return list(rows.values())


def _rpm_key(nevra: str) -> str:
    """``kernel-core-4.18.0-513.11.1.el8_9.x86_64`` -> ``kernel-core.x86_64`` (several advisories may update
    the same package to successive versions: it is one missing package)."""
    head, _, arch = nevra.rpartition(".")
    name = head.rsplit("-", 2)[0] if head.count("-") >= 2 else head
    return f"{name}.{arch}" if head else nevra


# -- the scan script's output --------------------------------------------------------------------------

ERRORS = {
    "no-os-release": "the host has no /etc/os-release, so its distribution is unknown (only Debian/Ubuntu with "
                     "apt and RHEL-family hosts with dnf/yum can be scanned)",
    "unsupported-package-manager": "this distribution is not supported: neither apt nor dnf/yum was found "
                                   "(patch scans cover Debian/Ubuntu and RHEL-family hosts)",
}


@dataclass
class _Sections:
    facts: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    done: bool = False


def _unpack(text: str) -> str:
    """A section the script packed (gzip, then base64) to stay far below the executor's output limit."""
    try:
        return gzip.decompress(base64.b64decode("".join(text.split()), validate=True)).decode("utf-8", "replace")
    except (ValueError, OSError, EOFError) as exc:
        raise ScanError("the scan output is damaged (a packed section could not be read)") from exc


def _split(text: str) -> _Sections:
    out = _Sections()
    current: str | None = None
    packed = False
    lines: list[str] = []
    for line in text.splitlines():
        if current is not None:
            if line.startswith(f"@@end {current} rc="):
                out.blocks[current] = _unpack("\n".join(lines)) if packed else "\n".join(lines)
                out.codes[current] = int(line.rsplit("rc=", 1)[1].strip() or "0")
                current, lines = None, []
            else:
                lines.append(line)
            continue
        if line.startswith("@@begin "):
            name, _, encoding = line[len("@@begin "):].strip().partition(" ")
            current, lines, packed = name, [], encoding == "b64gz"
        elif line.startswith("@@done"):
            out.done = True
        elif line.startswith("@@"):
            key, _, value = line[2:].partition(" ")
            out.facts.setdefault(key, value.strip())
    return out


def _os_details(facts: dict[str, str]) -> dict[str, Any]:
    pairs = dict(p.partition("=")[::2] for p in facts.get("os", "").split())
    return {"os_id": pairs.get("id", ""), "os_version": pairs.get("version", ""),
            "os_like": [x for x in pairs.get("like", "").split(",") if x], "os": facts.get("os-name", "")}


def _failed(s: _Sections, block: str, what: str) -> ScanError:
    stderr = s.blocks.get(f"stderr-{block}", "").strip()
    reason = f": {stderr.splitlines()[-1][:300]}" if stderr else ""
    return ScanError(f"{what} failed with exit code {s.codes.get(block)}{reason}")


def _installed(facts: dict[str, str]) -> int:
    try:
        return int(facts.get("installed", "").strip())
    except ValueError as exc:
        raise ScanError("the scan did not report the number of installed packages") from exc


def parse_scan_output(text: str) -> PatchCounts:
    """The scan script's stdout as counts; ``ScanError`` with a message for a person when it cannot."""
    s = _split(text)
    if "aw-patch-scan" not in s.facts:
        raise ScanError("the host did not run the patch scan script (no scan header in its output)")
    if "error" in s.facts:
        code = s.facts["error"]
        os_id = _os_details(s.facts)["os_id"]
        raise ScanError(ERRORS.get(code, code) + (f" [os: {os_id}]" if os_id else ""))
    if not s.done:
        raise ScanError("the scan output ended early (the script was interrupted)")
    manager = s.facts.get("manager", "")
    details = _os_details(s.facts)
    details["manager"] = manager
    if manager == "apt":
        return _apt_counts(s, details)
    if manager in ("dnf", "yum"):
        return _dnf_counts(s, details)
    raise ScanError(f"unknown package manager in the scan output: {manager!r}")


def _apt_counts(s: _Sections, details: dict[str, Any]) -> PatchCounts:
    if "upgradable" not in s.blocks:
        raise ScanError("the scan output has no 'apt list --upgradable' section")
    if s.codes["upgradable"] != 0:
        raise _failed(s, "upgradable", "apt list --upgradable")
    packages = parse_apt_upgradable(s.blocks["upgradable"])
    lists = s.facts.get("lists", "").strip()
    if lists:
        with contextlib.suppress(ValueError):
            details["lists_updated_at"] = datetime.fromtimestamp(float(lists), tz=UTC).isoformat()
    details.update(severity_reported=False, packages=packages[:MAX_PACKAGES],
                   packages_truncated=len(packages) > MAX_PACKAGES)
    return PatchCounts(source="apt", installed=_installed(s.facts), missing=len(packages), critical=0,
                       security=sum(1 for p in packages if p["security"]), details=details)


def _dnf_counts(s: _Sections, details: dict[str, Any]) -> PatchCounts:
    if "check-update" not in s.blocks:
        raise ScanError("the scan output has no 'dnf check-update' section")
    if s.codes["check-update"] not in (0, 100):  # 100: updates are available
        raise _failed(s, "check-update", f"{details['manager']} check-update")
    packages = parse_dnf_check_update(s.blocks["check-update"])
    if s.codes["check-update"] == 100 and not packages:
        raise ScanError(f"{details['manager']} check-update reported updates but listed none that could be read")
    advisories: list[dict[str, Any]] = []
    if s.codes.get("security", 1) == 0:
        advisories = parse_dnf_updateinfo(s.blocks.get("security", ""))
    else:
        details["security_error"] = str(_failed(s, "security", "updateinfo list --security"))
    details.update(severity_reported="security_error" not in details, packages=packages[:MAX_PACKAGES],
                   packages_truncated=len(packages) > MAX_PACKAGES, advisories=advisories[:MAX_PACKAGES])
    return PatchCounts(source="dnf", installed=_installed(s.facts), missing=len(packages),
                       critical=sum(1 for a in advisories if a["severity"] == "Critical"),
                       security=len(advisories), details=details)
