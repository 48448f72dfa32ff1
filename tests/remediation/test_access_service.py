"""Credentials (validated, encrypted, never shown) and asset access, ``resolve_target`` and the sshd helper."""

from __future__ import annotations

import json

import asyncssh
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Conflict, Invalid, NotFound
from alertwhisperer.remediation import access, credentials
from alertwhisperer.remediation.access_schemas import AccessIn, CredentialIn, CredentialUpdate
from alertwhisperer.remediation.executors import executor_for
from alertwhisperer.remediation.executors.base import Command
from alertwhisperer.remediation.models import AssetAccess, Credential
from tests.factories import make_asset, make_company
from tests.remediation.sshd import Sshd

KEY = asyncssh.generate_private_key("ssh-ed25519")
PEM = KEY.export_private_key().decode()


async def _audit(db: AsyncSession, action: str) -> list[AuditEntry]:
    return list((await db.execute(select(AuditEntry).where(AuditEntry.action == action))).scalars())


async def test_ssh_key_credential_is_encrypted_and_fingerprinted(
    db: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    co = await make_company(db, clock)
    out = await credentials.create_credential(
        db,
        actor=None,
        settings=settings,
        clock=clock,
        company_id=co.id,
        data=CredentialIn(name="ops key", kind="ssh_key", username="ops", private_key=PEM),
    )
    await db.commit()
    assert out.public["fingerprint"] == KEY.get_fingerprint("sha256")
    assert out.public["key_type"] == "ssh-ed25519"
    assert "private_key" not in out.model_dump_json()
    row = await db.get(Credential, out.id)
    assert row is not None and "PRIVATE KEY" not in row.secret_encrypted
    secret = credentials.decrypt_secret(settings, row)
    assert secret.private_key.strip() == PEM.strip() and secret.username == "ops"
    [entry] = await _audit(db, "credential.created")
    assert "PRIVATE" not in json.dumps(entry.details) and entry.details["fingerprint"] == out.public["fingerprint"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "ssh_key", "username": "u", "private_key": "garbage"}, "private_key"),
        ({"kind": "ssh_key", "username": "", "private_key": PEM}, "username"),
        ({"kind": "ssh_password", "username": "u", "password": ""}, "password"),
        ({"kind": "aws_keys", "access_key_id": "nope", "secret_access_key": "s"}, "access_key_id"),
        ({"kind": "aws_role", "role_arn": "arn:aws:iam::12:role/x"}, "role_arn"),
        (
            {"kind": "aws_keys", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "s", "region": "mars"},
            "region",
        ),
    ],
)
async def test_bad_credentials_are_refused_naming_the_field(
    db: AsyncSession, settings: Settings, clock: FakeClock, data: dict[str, str], field: str
) -> None:
    co = await make_company(db, clock)
    with pytest.raises(Invalid) as err:
        await credentials.create_credential(
            db, actor=None, settings=settings, clock=clock, company_id=co.id, data=CredentialIn(name="x", **data)
        )  # type: ignore[arg-type]
    assert err.value.field == field


async def test_rotate_and_delete_refused_while_in_use(
    db: AsyncSession, settings: Settings, clock: FakeClock, sshd: Sshd
) -> None:
    co = await make_company(db, clock)
    asset = await make_asset(db, clock, co.id, "web-1", ip="127.0.0.1")
    await sshd.configure(db, settings=settings, clock=clock, company_id=co.id, asset_id=asset.id)
    [cred] = await credentials.list_credentials_for_system(db, company_id=co.id)
    new_key = asyncssh.generate_private_key("ssh-ed25519")
    out = await credentials.update_credential(
        db,
        actor=None,
        settings=settings,
        clock=clock,
        credential_id=cred.id,
        data=CredentialUpdate(private_key=new_key.export_private_key().decode()),
    )
    assert out.public["fingerprint"] == new_key.get_fingerprint("sha256")
    assert out.used_by == 1
    assert await _audit(db, "credential.rotated")
    with pytest.raises(Conflict, match="used by 1 asset"):
        await credentials.delete_credential(db, actor=None, clock=clock, credential_id=cred.id)
    await access.delete_access(db, actor=None, clock=clock, asset_id=asset.id)
    await credentials.delete_credential(db, actor=None, clock=clock, credential_id=cred.id)
    await db.commit()
    assert await db.get(Credential, cred.id) is None


async def test_resolve_target_and_run_over_the_real_sshd(
    db: AsyncSession, settings: Settings, clock: FakeClock, sshd: Sshd
) -> None:
    co = await make_company(db, clock)
    asset = await make_asset(db, clock, co.id, "web-1", ip="127.0.0.1")
    await sshd.configure(db, settings=settings, clock=clock, company_id=co.id, asset_id=asset.id)
    target = await access.resolve_target(db, settings=settings, company_id=co.id, asset_id=asset.id)
    assert (target.executor, target.host, target.port, target.asset_name) == ("ssh", sshd.host, sshd.port, "web-1")
    assert target.secret.username == sshd.username and target.secret.private_key
    assert target.reference()["username"] == sshd.username and "private_key" not in target.reference()
    marker = sshd.workdir / "resolved"
    result = await executor_for(target.executor, settings).run(target, Command(script=f"touch {marker}"))
    assert result.status == "succeeded", result
    assert marker.exists()
    [confirmed] = await _audit(db, "asset_access.host_key_confirmed")
    assert confirmed.details["fingerprints"] == [sshd.host_fingerprint]


async def test_resolve_target_stays_within_the_company(db: AsyncSession, settings: Settings, clock: FakeClock) -> None:
    mine, other = await make_company(db, clock), await make_company(db, clock)
    theirs = await make_asset(db, clock, other.id, "their-db")
    with pytest.raises(NotFound):
        await access.resolve_target(db, settings=settings, company_id=mine.id, asset_id=theirs.id)
    with pytest.raises(Conflict, match="no remote access is configured for their-db"):
        await access.resolve_target(db, settings=settings, company_id=other.id, asset_id=theirs.id)


async def test_credential_of_another_company_cannot_be_used(
    db: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    mine, other = await make_company(db, clock), await make_company(db, clock)
    cred = await credentials.create_credential(
        db,
        actor=None,
        settings=settings,
        clock=clock,
        company_id=other.id,
        data=CredentialIn(name="k", kind="ssh_password", username="u", password="pw"),
    )
    asset = await make_asset(db, clock, mine.id, "web-1", ip="10.0.0.5")
    with pytest.raises(Invalid, match="no such credential in this company"):
        await access.set_access(
            db,
            actor=None,
            settings=settings,
            clock=clock,
            asset_id=asset.id,
            data=AccessIn(executor="ssh", credential_id=cred.id),
        )


async def test_undecryptable_credential_is_a_clear_conflict(
    db: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    co = await make_company(db, clock)
    asset = await make_asset(db, clock, co.id, "web-1", ip="10.0.0.5")
    cred = await credentials.create_credential(
        db,
        actor=None,
        settings=settings,
        clock=clock,
        company_id=co.id,
        data=CredentialIn(name="k", kind="ssh_password", username="u", password="pw"),
    )
    await access.set_access(
        db,
        actor=None,
        settings=settings,
        clock=clock,
        asset_id=asset.id,
        data=AccessIn(executor="ssh", credential_id=cred.id),
    )
    other = settings.model_copy(update={"secret_key": SecretStr("another-secret-" * 4)})
    with pytest.raises(Conflict, match="cannot be decrypted"):
        await access.resolve_target(db, settings=other, company_id=co.id, asset_id=asset.id)


async def test_ssm_access_needs_instance_id_and_region(db: AsyncSession, settings: Settings, clock: FakeClock) -> None:
    co = await make_company(db, clock)
    plain = await make_asset(db, clock, co.id, "no-ec2")
    ec2 = await make_asset(db, clock, co.id, "ec2-1", instance_id="i-0123456789abcdef0")
    cred = await credentials.create_credential(
        db,
        actor=None,
        settings=settings,
        clock=clock,
        company_id=co.id,
        data=CredentialIn(name="aws", kind="aws_role", role_arn="arn:aws:iam::123456789012:role/aw", external_id="x-1"),
    )
    with pytest.raises(Invalid, match="instance id"):
        await access.set_access(
            db,
            actor=None,
            settings=settings,
            clock=clock,
            asset_id=plain.id,
            data=AccessIn(executor="ssm", credential_id=cred.id, region="eu-west-1"),
        )
    with pytest.raises(Invalid, match="region"):
        await access.set_access(
            db,
            actor=None,
            settings=settings,
            clock=clock,
            asset_id=ec2.id,
            data=AccessIn(executor="ssm", credential_id=cred.id),
        )
    out = await access.set_access(
        db,
        actor=None,
        settings=settings,
        clock=clock,
        asset_id=ec2.id,
        data=AccessIn(executor="ssm", credential_id=cred.id, region="eu-west-1"),
    )
    assert out.host_key_status == "not_needed" and out.instance_id == "i-0123456789abcdef0"
    target = await access.resolve_target(db, settings=settings, company_id=co.id, asset_id=ec2.id)
    assert (target.instance_id, target.region, target.secret.role_arn, target.secret.external_id) == (
        "i-0123456789abcdef0",
        "eu-west-1",
        "arn:aws:iam::123456789012:role/aw",
        "x-1",
    )


async def test_host_change_forgets_keys_and_foreign_keys_are_refused(
    db: AsyncSession, settings: Settings, clock: FakeClock, sshd: Sshd
) -> None:
    co = await make_company(db, clock)
    asset = await make_asset(db, clock, co.id, "web-1", ip="127.0.0.1")
    await sshd.configure(db, settings=settings, clock=clock, company_id=co.id, asset_id=asset.id)
    other_host = sshd.known_hosts.replace(f"[{sshd.host}]:{sshd.port}", "[10.1.1.1]:22")
    with pytest.raises(Invalid, match=r"not \[127\.0\.0\.1\]"):
        await access.confirm_host_key(db, actor=None, clock=clock, asset_id=asset.id, lines=other_host)
    row = await db.get(AssetAccess, asset.id)
    assert row is not None
    out = await access.set_access(
        db,
        actor=None,
        settings=settings,
        clock=clock,
        asset_id=asset.id,
        data=AccessIn(executor="ssh", host="127.0.0.2", port=sshd.port, credential_id=row.credential_id),
    )
    assert out.host_key_status == "missing" and out.host_keys == []


async def test_fetch_host_key_shows_the_servers_key(sshd: Sshd) -> None:
    keys = await access.fetch_host_key(sshd.host, sshd.port, timeout=5)
    assert [k.fingerprint for k in keys] == [sshd.host_fingerprint]
    assert keys[0].line.strip() == sshd.known_hosts.strip()
    with pytest.raises(Conflict, match="connection refused"):
        await access.fetch_host_key(sshd.host, 1, timeout=5)


async def test_sshd_configure_twice_switches_sudo(
    db: AsyncSession, settings: Settings, clock: FakeClock, sshd: Sshd
) -> None:
    co = await make_company(db, clock)
    asset = await make_asset(db, clock, co.id, "web-1", ip="127.0.0.1")
    await sshd.configure(db, settings=settings, clock=clock, company_id=co.id, asset_id=asset.id)
    await sshd.configure(db, settings=settings, clock=clock, company_id=co.id, asset_id=asset.id, sudo=True)
    target = await access.resolve_target(db, settings=settings, company_id=co.id, asset_id=asset.id)
    assert target.sudo and target.known_hosts.strip() == sshd.known_hosts.strip()
    assert len(await credentials.list_credentials_for_system(db, company_id=co.id)) == 1
