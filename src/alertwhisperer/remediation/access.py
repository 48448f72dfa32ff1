"""How the platform reaches each asset (executor, host, credential, confirmed host keys), and ``resolve_target``.

Host keys are never taken on trust: ``fetch_host_key`` only shows what the server presents (lines + SHA256
fingerprints); storing them is a separate admin action (``confirm_host_key``, audited). Changing the host or port
forgets the stored keys. Targets resolve only within the asking company: an asset of another company is not found.
"""

from __future__ import annotations

import asyncssh
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Conflict, Invalid, NotFound
from alertwhisperer.remediation.access_schemas import AccessIn, AccessOut, HostKeyOut
from alertwhisperer.remediation.credentials import decrypt_secret
from alertwhisperer.remediation.executors import executor_for, local_refusal
from alertwhisperer.remediation.executors.base import Command, ExecutorUnavailable, RunResult, Target
from alertwhisperer.remediation.executors.sshconnect import ConnectFailed, HostKey, fetch_host_keys, host_pattern
from alertwhisperer.remediation.models import (
    AWS_KEYS,
    AWS_ROLE,
    SSH,
    SSH_KEY,
    SSH_PASSWORD,
    SSM,
    AssetAccess,
    Credential,
)
from alertwhisperer.tenants.models import Asset

CREDENTIAL_KINDS_FOR = {SSH: (SSH_KEY, SSH_PASSWORD), SSM: (AWS_KEYS, AWS_ROLE)}


async def _asset(session: AsyncSession, actor: Principal | None, asset_id: str) -> Asset:
    asset = await session.get(Asset, asset_id)
    if asset is None or (actor is not None and not actor.sees_company(asset.company_id)):
        raise NotFound("asset not found")
    return asset


def parse_host_keys(text: str) -> list[HostKey]:
    """Parse known_hosts text into keys with fingerprints (raises ``Invalid`` on a bad line)."""
    keys: list[HostKey] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 3 or parts[0].startswith("@"):
            raise Invalid(f"line {n} is not a known_hosts line '<host> <type> <key>'", field="lines")
        try:
            key = asyncssh.import_public_key(f"{parts[1]} {parts[2]}")
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise Invalid(f"line {n}: not a valid public key ({exc})", field="lines") from exc
        keys.append(HostKey(line=" ".join(parts[:3]), key_type=parts[1], fingerprint=key.get_fingerprint("sha256")))
    return keys


def _out(asset: Asset, access: AssetAccess | None, cred: Credential | None) -> AccessOut:
    if access is None:
        return AccessOut(
            asset_id=asset.id,
            asset_name=asset.name,
            company_id=asset.company_id,
            configured=False,
            instance_id=asset.instance_id or "",
        )
    keys = [
        HostKeyOut(line=k.line, key_type=k.key_type, fingerprint=k.fingerprint)
        for k in parse_host_keys(access.known_hosts or "")
    ]
    status = "not_needed" if access.executor != SSH else ("stored" if keys else "missing")
    return AccessOut(
        asset_id=asset.id,
        asset_name=asset.name,
        company_id=asset.company_id,
        configured=True,
        executor=access.executor,
        os=access.os,
        host=access.host,
        port=access.port,
        credential_id=access.credential_id,
        credential_name=cred.name if cred else "",
        credential_kind=cred.kind if cred else "",
        username=cred.username if cred else "",
        sudo=access.sudo,
        region=access.region,
        instance_id=asset.instance_id or "",
        host_keys=keys,
        host_key_status=status,
        updated_at=access.updated_at,
    )


async def _credential(session: AsyncSession, access: AssetAccess) -> Credential | None:
    return await session.get(Credential, access.credential_id) if access.credential_id else None


async def get_access(session: AsyncSession, *, actor: Principal, asset_id: str) -> AccessOut:
    asset = await _asset(session, actor, asset_id)
    access = await session.get(AssetAccess, asset_id)
    return _out(asset, access, await _credential(session, access) if access else None)


async def list_access(session: AsyncSession, *, actor: Principal, company_id: str) -> list[AccessOut]:
    """Every asset of the company with its access (configured or not), by name."""
    actor.require_company(company_id)
    assets = list(
        (await session.execute(select(Asset).where(Asset.company_id == company_id).order_by(Asset.name))).scalars()
    )
    accesses = {
        a.asset_id: a
        for a in (await session.execute(select(AssetAccess).where(AssetAccess.company_id == company_id))).scalars()
    }
    creds = {
        c.id: c
        for c in (await session.execute(select(Credential).where(Credential.company_id == company_id))).scalars()
    }
    out = []
    for asset in assets:
        acc = accesses.get(asset.id)
        out.append(_out(asset, acc, creds.get(acc.credential_id) if acc and acc.credential_id else None))
    return out


async def set_access(
    session: AsyncSession, *, actor: Principal | None, settings: Settings, clock: Clock, asset_id: str, data: AccessIn
) -> AccessOut:
    asset = await _asset(session, actor, asset_id)
    if actor is not None:
        actor.require_company_admin(asset.company_id, "change how assets are reached", what="asset")
    host = data.host.strip() or asset.fqdn or asset.ip or ""
    cred: Credential | None = None
    if data.credential_id:
        cred = await session.get(Credential, data.credential_id)
        if cred is None or cred.company_id != asset.company_id:
            raise Invalid("no such credential in this company", field="credential_id")
    region = data.region.strip()
    if data.executor == "local":
        reason = local_refusal(settings)
        if reason:
            raise Invalid(reason, field="executor")
        cred = None
    elif data.executor == SSH:
        if not host:
            raise Invalid("the asset has no fqdn or ip: enter the host to connect to", field="host")
        if cred is None or cred.kind not in CREDENTIAL_KINDS_FOR[SSH]:
            raise Invalid("SSH needs an SSH key or password credential", field="credential_id")
    else:
        if not asset.instance_id:
            raise Invalid("SSM needs the asset's EC2 instance id (set it on the asset first)", field="executor")
        if cred is None or cred.kind not in CREDENTIAL_KINDS_FOR[SSM]:
            raise Invalid("SSM needs an AWS keys or AWS role credential", field="credential_id")
        region = region or str((cred.public_data or {}).get("region", ""))
        if not region:
            raise Invalid("SSM needs the AWS region (here or on the credential)", field="region")
    access = await session.get(AssetAccess, asset_id)
    created = access is None
    if access is None:
        access = AssetAccess(asset_id=asset.id, company_id=asset.company_id, known_hosts="")
        session.add(access)
    elif (access.host, access.port) != (host, data.port):
        access.known_hosts = ""  # keys of another host mean nothing here
    access.executor, access.os, access.host, access.port = data.executor, data.os, host, data.port
    access.credential_id = cred.id if cred else None
    access.sudo, access.region, access.updated_at = data.sudo, region, clock.now()
    await session.flush()
    await audit.record(
        session,
        clock=clock,
        action="asset_access.created" if created else "asset_access.updated",
        actor=actor,
        company_id=asset.company_id,
        target_type="asset",
        target_id=asset.id,
        details={
            "asset": asset.name,
            "executor": data.executor,
            "os": data.os,
            "host": host,
            "port": data.port,
            "credential": cred.name if cred else None,
            "sudo": data.sudo,
            "region": region,
        },
    )
    return _out(asset, access, cred)


async def delete_access(session: AsyncSession, *, actor: Principal | None, clock: Clock, asset_id: str) -> None:
    asset = await _asset(session, actor, asset_id)
    if actor is not None:
        actor.require_company_admin(asset.company_id, "change how assets are reached", what="asset")
    access = await session.get(AssetAccess, asset_id)
    if access is None:
        raise NotFound("no remote access configured for this asset")
    await session.delete(access)
    await audit.record(
        session,
        clock=clock,
        action="asset_access.deleted",
        actor=actor,
        company_id=asset.company_id,
        target_type="asset",
        target_id=asset.id,
        details={"asset": asset.name, "executor": access.executor},
    )
    await session.flush()


async def _ssh_access(session: AsyncSession, actor: Principal | None, asset_id: str) -> tuple[Asset, AssetAccess]:
    asset = await _asset(session, actor, asset_id)
    if actor is not None:
        actor.require_company_admin(asset.company_id, "manage host keys", what="asset")
    access = await session.get(AssetAccess, asset_id)
    if access is None or access.executor != SSH:
        raise Conflict("this asset is not reached over SSH; configure SSH access first")
    return asset, access


async def fetch_host_key(host: str, port: int = 22, timeout: float = 10.0) -> list[HostKey]:  # noqa: ASYNC109
    """What the server presents (lines + fingerprints). Stores nothing; ``Conflict`` when it cannot be reached."""
    try:
        return await fetch_host_keys(host, port, timeout)
    except ConnectFailed as exc:
        raise Conflict(str(exc)) from exc


async def fetch_for_asset(
    session: AsyncSession, *, actor: Principal, asset_id: str, wait_seconds: float = 10.0
) -> list[HostKey]:
    _asset_row, access = await _ssh_access(session, actor, asset_id)
    host, port = access.host, access.port
    await session.rollback()  # hold no transaction while talking to the network
    return await fetch_host_key(host, port, wait_seconds)


async def confirm_host_key(
    session: AsyncSession, *, actor: Principal | None, clock: Clock, asset_id: str, lines: str
) -> AccessOut:
    """Store the host keys an admin confirmed (each line must be for this asset's host and port)."""
    asset, access = await _ssh_access(session, actor, asset_id)
    keys = parse_host_keys(lines)
    if not keys:
        raise Invalid("no host key given", field="lines")
    pattern = host_pattern(access.host, access.port)
    for key in keys:
        hosts = key.line.split()[0].split(",")
        if pattern not in hosts:
            raise Invalid(f"the key {key.fingerprint} is for {hosts[0]}, not {pattern}", field="lines")
    access.known_hosts = "".join(f"{pattern} {k.line.split()[1]} {k.line.split()[2]}\n" for k in keys)
    access.updated_at = clock.now()
    await session.flush()
    await audit.record(
        session,
        clock=clock,
        action="asset_access.host_key_confirmed",
        actor=actor,
        company_id=asset.company_id,
        target_type="asset",
        target_id=asset.id,
        details={"asset": asset.name, "host": pattern, "fingerprints": [k.fingerprint for k in keys]},
    )
    return _out(asset, access, await _credential(session, access))


async def check_connection(
    session: AsyncSession, *, actor: Principal | None, clock: Clock, settings: Settings, asset_id: str
) -> RunResult:
    """Run ``echo ok`` through the asset's configured executor (admins; audited with the outcome)."""
    asset = await _asset(session, actor, asset_id)
    if actor is not None:
        actor.require_company_admin(asset.company_id, "test remote access", what="asset")
    company_id, name = asset.company_id, asset.name
    target = await resolve_target(session, settings=settings, company_id=company_id, asset_id=asset_id)
    await session.rollback()  # hold no transaction while talking to the host
    try:
        executor = executor_for(target.executor, settings)
    except ExecutorUnavailable as exc:
        result = RunResult(status="undeliverable", error=str(exc))
    else:
        windows = target.os == "windows"
        result = await executor.run(
            target,
            Command(
                script="Write-Output ok" if windows else "echo ok",
                shell="powershell" if windows else "sh",
                timeout_seconds=30,
                delivery_timeout_seconds=15,
            ),
        )
    await audit.record(
        session,
        clock=clock,
        action="asset_access.tested",
        actor=actor,
        company_id=company_id,
        target_type="asset",
        target_id=asset_id,
        details={
            "asset": name,
            "executor": target.executor,
            "status": result.status,
            "exit_code": result.exit_code,
            "error": result.error[:500],
        },
    )
    return result


async def resolve_target(session: AsyncSession, *, settings: Settings, company_id: str, asset_id: str) -> Target:
    """The asset of ``company_id`` as an executor target with its decrypted credential.

    ``NotFound`` when the asset is not this company's; ``Conflict`` (with what to fix) when it cannot be reached."""
    asset = await session.get(Asset, asset_id)
    if asset is None or asset.company_id != company_id:
        raise NotFound("asset not found")
    access = await session.get(AssetAccess, asset_id)
    if access is None:
        raise Conflict(f"no remote access is configured for {asset.name}; set it up under Remote access")
    cred = await _credential(session, access)
    base = dict(
        asset_id=asset.id,
        asset_name=asset.name,
        company_id=company_id,
        executor=access.executor,
        os=access.os,
        host=access.host,
        port=access.port,
        instance_id=asset.instance_id or "",
        region=access.region,
        sudo=access.sudo,
        known_hosts=access.known_hosts or "",
    )
    if access.executor == "local":
        return Target(**base)  # type: ignore[arg-type]
    if cred is None:
        raise Conflict(f"the credential of {asset.name} was removed; choose one under Remote access")
    if cred.kind not in CREDENTIAL_KINDS_FOR.get(access.executor, ()):
        raise Conflict(f"{asset.name} uses a {cred.kind} credential, which {access.executor} cannot use")
    if access.executor == SSM:
        if not asset.instance_id:
            raise Conflict(f"{asset.name} has no EC2 instance id; SSM cannot reach it")
        base["region"] = access.region or str((cred.public_data or {}).get("region", ""))
        if not base["region"]:
            raise Conflict(f"no AWS region is configured for {asset.name}")
    return Target(**base, secret=decrypt_secret(settings, cred))  # type: ignore[arg-type]
