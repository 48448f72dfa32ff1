"""The pure patch parsers over real-format samples: AWS Patch Manager states, apt, dnf (4 and 5), the scan output."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime, timedelta, timezone

import pytest

from alertwhisperer.remediation.patch_parsers import (
    ScanError,
    parse_apt_upgradable,
    parse_dnf_check_update,
    parse_dnf_updateinfo,
    parse_scan_output,
    parse_ssm_patch_state,
    parse_ssm_patch_states,
)

# The example answer of describe_instance_patch_states in the AWS CLI reference (boto3 gives datetimes).
SSM_STATE = {
    "InstanceId": "i-02573cafcfEXAMPLE",
    "PatchGroup": "",
    "BaselineId": "pb-0c10e65780EXAMPLE",
    "SnapshotId": "a3f5ff34-9bc4-4d2c-a665-4d1c1EXAMPLE",
    "CriticalNonCompliantCount": 2,
    "SecurityNonCompliantCount": 2,
    "OtherNonCompliantCount": 1,
    "InstalledCount": 123,
    "InstalledOtherCount": 334,
    "InstalledPendingRebootCount": 0,
    "InstalledRejectedCount": 0,
    "MissingCount": 1,
    "FailedCount": 2,
    "UnreportedNotApplicableCount": 11,
    "NotApplicableCount": 2063,
    "OperationStartTime": "2021-05-03T11:00:56-07:00",
    "OperationEndTime": "2021-05-03T11:01:09-07:00",
    "Operation": "Scan",
    "LastNoRebootInstallOperationTime": "2020-06-14T12:17:41-07:00",
    "RebootOption": "RebootIfNeeded",
}

APT_UBUNTU = """\
Listing...
libssl3/jammy-updates,jammy-security 3.0.2-0ubuntu1.15 amd64 [upgradable from: 3.0.2-0ubuntu1.14]
openssl/jammy-updates,jammy-security 3.0.2-0ubuntu1.15 amd64 [upgradable from: 3.0.2-0ubuntu1.14]
snapd/jammy-updates 2.61.3+22.04 amd64 [upgradable from: 2.58+22.04.1]
tzdata/jammy-updates 2024a-0ubuntu0.22.04 all [upgradable from: 2023c-0ubuntu0.22.04.2]
linux-firmware/jammy-updates 20220329.git681281e4-0ubuntu3.27 all [upgradable from: 20220329.git681281e4-0ubuntu3.26]
"""

APT_DEBIAN = """\
WARNING: apt does not have a stable CLI interface. Use with caution in scripts.

Listing...
apt/oldstable-security 2.6.2 amd64 [upgradable from: 2.6.1]
base-files/oldstable 12.4+deb12u15 amd64 [upgradable from: 12.4+deb12u11]
krb5-locales/oldstable,oldstable-security 1.20.1-2+deb12u5 all [upgradable from: 1.20.1-2+deb12u3]
libc6/bookworm-security 2.36-9+deb12u13 amd64 [upgradable from: 2.36-9+deb12u10]
"""

DNF_CHECK_UPDATE = """\

NetworkManager.x86_64                    1:1.40.16-15.el8_9                baseos
curl.x86_64                              7.61.1-33.el8_9.5                 baseos
kernel.x86_64                            4.18.0-513.11.1.el8_9             baseos
kernel-core.x86_64                       4.18.0-513.11.1.el8_9             baseos
python3-dnf-plugin-versionlock-extended-name.noarch
                                         4.0.21-23.el8                     baseos
openssl-libs.x86_64                      1:1.1.1k-12.el8_9                 baseos
Obsoleting Packages
grub2-tools.x86_64                       1:2.02-150.el8.rocky.0.1          baseos
    grub2-tools.x86_64                   1:2.02-148.el8.rocky.0.2          @baseos
"""

DNF4_SECURITY = """\
RLSA-2024:0256 Important/Sec. kernel-4.18.0-513.11.1.el8_9.x86_64
RLSA-2024:0256 Important/Sec. kernel-core-4.18.0-513.11.1.el8_9.x86_64
RLSA-2023:7877 Important/Sec. kernel-core-4.18.0-513.9.1.el8_9.x86_64
RLSA-2024:0119 Moderate/Sec.  openssl-libs-1:1.1.1k-12.el8_9.x86_64
RLSA-2024:0500 Critical/Sec.  curl-7.61.1-33.el8_9.5.x86_64
"""

DNF5_SECURITY = """\
Name                  Type     Severity                     Package              Issued
FEDORA-2024-5fc3ea1b5 security Moderate                 glibc-2.39-6.fc40.x86_64 2024-04-24 01:30:47
FEDORA-2024-7a1c2f0d3 security Critical        openssh-server-9.6p1-1.fc40.4.x86_64 2024-07-02 01:12:28
"""


def test_ssm_state_maps_every_count() -> None:
    counts = parse_ssm_patch_state(SSM_STATE)
    assert (counts.source, counts.installed, counts.missing, counts.critical, counts.security, counts.failed) == (
        "ssm",
        123,
        1,
        2,
        2,
        2,
    )
    assert counts.scanned_at == datetime(2021, 5, 3, 18, 1, 9, tzinfo=UTC)
    d = counts.details
    assert (d["installed_other"], d["installed_pending_reboot"], d["installed_rejected"]) == (334, 0, 0)
    assert (d["baseline_id"], d["operation"], d["reboot_option"]) == ("pb-0c10e65780EXAMPLE", "Scan", "RebootIfNeeded")
    assert d["severity_reported"] is True


def test_ssm_states_by_instance_accept_boto3_datetimes() -> None:
    ended = datetime(2026, 3, 1, 4, 0, tzinfo=timezone(timedelta(hours=2)))
    other = {**SSM_STATE, "InstanceId": "i-0b", "MissingCount": 0, "FailedCount": 0, "OperationEndTime": ended}
    by_id = parse_ssm_patch_states([SSM_STATE, other, {"MissingCount": 3}])
    assert set(by_id) == {"i-02573cafcfEXAMPLE", "i-0b"}
    assert by_id["i-0b"].scanned_at == ended and by_id["i-0b"].missing == 0


def test_apt_security_comes_from_security_pockets() -> None:
    ubuntu = parse_apt_upgradable(APT_UBUNTU)
    assert [p["name"] for p in ubuntu if p["security"]] == ["libssl3", "openssl"]
    assert len(ubuntu) == 5
    assert ubuntu[0] == {
        "name": "libssl3",
        "version": "3.0.2-0ubuntu1.15",
        "arch": "amd64",
        "from": "3.0.2-0ubuntu1.14",
        "suites": ["jammy-updates", "jammy-security"],
        "security": True,
    }
    debian = parse_apt_upgradable(APT_DEBIAN)
    assert [p["name"] for p in debian] == ["apt", "base-files", "krb5-locales", "libc6"]
    assert [p["name"] for p in debian if p["security"]] == ["apt", "krb5-locales", "libc6"]


def test_dnf_check_update_reads_wrapped_rows_and_stops_at_obsoletes() -> None:
    packages = parse_dnf_check_update(DNF_CHECK_UPDATE)
    names = [p["name"] for p in packages]
    assert names == [
        "NetworkManager",
        "curl",
        "kernel",
        "kernel-core",
        "python3-dnf-plugin-versionlock-extended-name",
        "openssl-libs",
    ]
    wrapped = packages[4]
    assert (wrapped["arch"], wrapped["version"], wrapped["repo"]) == ("noarch", "4.0.21-23.el8", "baseos")
    assert parse_dnf_check_update("") == []


def test_dnf4_updateinfo_counts_packages_once_and_critical() -> None:
    rows = parse_dnf_updateinfo(DNF4_SECURITY)
    # kernel-core is updated by two advisories: it is one missing package
    assert [(r["advisory"], r["severity"], r["package"]) for r in rows] == [
        ("RLSA-2024:0256", "Important", "kernel-4.18.0-513.11.1.el8_9.x86_64"),
        ("RLSA-2024:0256", "Important", "kernel-core-4.18.0-513.11.1.el8_9.x86_64"),
        ("RLSA-2024:0119", "Moderate", "openssl-libs-1:1.1.1k-12.el8_9.x86_64"),
        ("RLSA-2024:0500", "Critical", "curl-7.61.1-33.el8_9.5.x86_64"),
    ]


def test_dnf5_updateinfo_format() -> None:
    rows = parse_dnf_updateinfo(DNF5_SECURITY)
    assert [(r["advisory"], r["severity"]) for r in rows] == [
        ("FEDORA-2024-5fc3ea1b5", "Moderate"),
        ("FEDORA-2024-7a1c2f0d3", "Critical"),
    ]


def _section(name: str, body: str, rc: int, *, packed: bool = False) -> str:
    if packed:
        body = base64.encodebytes(gzip.compress(body.encode())).decode()
        return f"@@begin {name} b64gz\n{body}\n@@end {name} rc={rc}\n"
    return f"@@begin {name}\n{body}\n@@end {name} rc={rc}\n"


def _dnf_output(check: str, check_rc: int, security: str, security_rc: int = 0, *, packed: bool = False) -> str:
    return (
        "@@aw-patch-scan 1\n@@os id=rocky version=8.9 like=rhel,centos,fedora\n"
        "@@os-name Rocky Linux 8.9 (Green Obsidian)\n@@manager dnf\n@@installed 612\n"
        + _section("check-update", check, check_rc, packed=packed)
        + _section("security", security, security_rc, packed=packed)
        + "@@done\n"
    )


@pytest.mark.parametrize("packed", [False, True])
def test_scan_output_dnf(packed: bool) -> None:
    counts = parse_scan_output(_dnf_output(DNF_CHECK_UPDATE, 100, DNF4_SECURITY, packed=packed))
    assert (counts.source, counts.installed, counts.missing, counts.security, counts.critical) == ("dnf", 612, 6, 4, 1)
    assert counts.details["os"] == "Rocky Linux 8.9 (Green Obsidian)"
    assert counts.details["os_like"] == ["rhel", "centos", "fedora"]
    assert counts.details["severity_reported"] is True


def test_scan_output_dnf_up_to_date_and_security_listing_failure() -> None:
    clean = parse_scan_output(_dnf_output("", 0, ""))
    assert (clean.missing, clean.security, clean.critical) == (0, 0, 0)
    no_info = parse_scan_output(_dnf_output(DNF_CHECK_UPDATE, 100, "", 1))
    assert no_info.missing == 6 and no_info.security == 0
    assert no_info.details["severity_reported"] is False and "updateinfo" in no_info.details["security_error"]


def test_scan_output_apt_with_lists_age() -> None:
    text = (
        "@@aw-patch-scan 1\n@@os id=ubuntu version=22.04 like=debian\n@@os-name Ubuntu 22.04.4 LTS\n"
        "@@manager apt\n@@installed 1432\n@@lists 1772442000.5\n"
        + _section("upgradable", APT_UBUNTU, 0, packed=True)
        + "@@begin stderr-upgradable\nWARNING: apt does not have a stable CLI interface.\n"
        "@@end stderr-upgradable rc=0\n@@done\n"
    )
    counts = parse_scan_output(text)
    assert (counts.source, counts.installed, counts.missing, counts.security, counts.critical) == ("apt", 1432, 5, 2, 0)
    assert counts.details["severity_reported"] is False
    assert counts.details["lists_updated_at"] == datetime.fromtimestamp(1772442000.5, tz=UTC).isoformat()
    assert [p["name"] for p in counts.details["packages"]][:2] == ["libssl3", "openssl"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bash: line 1: sh: not found\n", "did not run the patch scan script"),
        ("@@aw-patch-scan 1\n@@error no-os-release\n", "no /etc/os-release"),
        (
            "@@aw-patch-scan 1\n@@os id=alpine version=3.19 like=\n@@error unsupported-package-manager\n@@done\n",
            "not supported: neither apt nor dnf/yum was found (patch scans cover Debian/Ubuntu and RHEL-family hosts)"
            " [os: alpine]",
        ),
        ("@@aw-patch-scan 1\n@@manager apt\n@@installed 3\n@@begin upgradable\nfoo/stable 1 all\n", "ended early"),
        (
            "@@aw-patch-scan 1\n@@manager apt\n@@installed 3\n"
            + _section("upgradable", "", 100)
            + "@@begin stderr-upgradable\nE: Could not open lock file /var/lib/dpkg/lock\n"
            "@@end stderr-upgradable rc=0\n@@done\n",
            "apt list --upgradable failed with exit code 100: E: Could not open lock file",
        ),
        (_dnf_output("", 1, "").replace("@@begin stderr", ""), "dnf check-update failed with exit code 1"),
        (
            "@@aw-patch-scan 1\n@@manager dnf\n@@installed x\n" + _section("check-update", "", 0) + "@@done\n",
            "number of installed packages",
        ),
        (
            "@@aw-patch-scan 1\n@@manager apt\n@@installed 1\n@@begin upgradable b64gz\nnot base64!\n"
            "@@end upgradable rc=0\n@@done\n",
            "damaged",
        ),
    ],
)
def test_scan_output_problems_are_clear(text: str, message: str) -> None:
    with pytest.raises(ScanError) as info:
        parse_scan_output(text)
    assert message in str(info.value)
