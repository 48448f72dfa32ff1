"""A company's credentials for reaching its machines: validated on input, encrypted at rest, never shown again.

What is shown is the kind, the username and public data (an SSH key's type, SHA256 fingerprint and public key;
an AWS access key id, role ARN, external id and region). Deleting a credential still used by an asset is refused
(409, naming how many): silently detaching it would break remediation of those assets when it is next needed.
Only a company admin of that company or an MSP admin changes credentials; technicians of the company may list.
"""

from __future__ import annotations

import json
import re
from typing import Any

import asyncssh
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer import crypto
from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.errors import Conflict, Invalid, NotFound
from alertwhisperer.remediation.access_schemas import CredentialIn, CredentialOut, CredentialUpdate
from alertwhisperer.remediation.executors.base import Secret
from alertwhisperer.remediation.models import AWS_KEYS, AWS_ROLE, SSH_KEY, SSH_PASSWORD, AssetAccess, Credential

ACCESS_KEY_RE = re.compile(r"^[A-Z0-9]{16,128}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
SECRET_FIELDS = ("private_key", "passphrase", "password", "secret_access_key")


def _require(value: str, field: str, message: str) -> None:
    if not value.strip():
        raise Invalid(message, field=field, details={"field": field})


def _check(kind: str, f: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """Validate the fields of ``kind``; returns (secret, public data). Raises ``Invalid`` naming the field."""
    if f.get("region") and not REGION_RE.match(f["region"]):
        raise Invalid(f"{f['region']!r} is not an AWS region (e.g. eu-west-1)", field="region")
    if kind == SSH_KEY:
        _require(f["username"], "username", "an SSH key credential needs the username to log in as")
        _require(f["private_key"], "private_key", "paste the private key (OpenSSH or PEM format)")
        try:
            key = asyncssh.import_private_key(f["private_key"].strip() + "\n", f["passphrase"] or None)
        except asyncssh.KeyEncryptionError as exc:
            raise Invalid(
                f"cannot decrypt the private key: {exc} (wrong or missing passphrase?)", field="passphrase"
            ) from exc
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise Invalid(f"not a valid private key: {exc}", field="private_key") from exc
        public = key.export_public_key("openssh").decode().split()
        return (
            {"private_key": f["private_key"].strip() + "\n", "passphrase": f["passphrase"]},
            {
                "key_type": public[0],
                "fingerprint": key.get_fingerprint("sha256"),
                "public_key": f"{public[0]} {public[1]}",
            },
        )
    if kind == SSH_PASSWORD:
        _require(f["username"], "username", "a password credential needs the username to log in as")
        _require(f["password"], "password", "the password is required")
        return {"password": f["password"]}, {}
    if kind == AWS_KEYS:
        if not ACCESS_KEY_RE.match(f["access_key_id"]):
            raise Invalid("the access key id looks wrong (e.g. AKIA… in capitals and digits)", field="access_key_id")
        _require(f["secret_access_key"], "secret_access_key", "the secret access key is required")
        return (
            {"secret_access_key": f["secret_access_key"].strip()},
            {"access_key_id": f["access_key_id"], "region": f["region"]},
        )
    if kind == AWS_ROLE:
        if not ROLE_ARN_RE.match(f["role_arn"]):
            raise Invalid("the role ARN looks wrong (arn:aws:iam::<12 digits>:role/<name>)", field="role_arn")
        if bool(f["access_key_id"]) != bool(f["secret_access_key"]):
            raise Invalid(
                "base keys for assuming the role need both the access key id and the secret "
                "(or neither: the server's own AWS credentials are used)",
                field="access_key_id",
            )
        if f["access_key_id"] and not ACCESS_KEY_RE.match(f["access_key_id"]):
            raise Invalid("the access key id looks wrong", field="access_key_id")
        secret = {"secret_access_key": f["secret_access_key"].strip()} if f["secret_access_key"] else {}
        return secret, {
            "role_arn": f["role_arn"],
            "external_id": f["external_id"],
            "access_key_id": f["access_key_id"],
            "region": f["region"],
        }
    raise Invalid(f"unknown credential kind {kind!r}", field="kind")


def _fields(data: CredentialIn) -> dict[str, str]:
    return {
        k: str(v).strip() if k not in SECRET_FIELDS else str(v)
        for k, v in data.model_dump().items()
        if k not in ("name", "kind")
    }


async def _used_by(session: AsyncSession, credential_ids: list[str]) -> dict[str, int]:
    if not credential_ids:
        return {}
    rows = (
        await session.execute(
            select(AssetAccess.credential_id, func.count())
            .where(AssetAccess.credential_id.in_(credential_ids))
            .group_by(AssetAccess.credential_id)
        )
    ).all()
    return {str(cid): int(n) for cid, n in rows}


def to_out(cred: Credential, used_by: int = 0) -> CredentialOut:
    return CredentialOut(
        id=cred.id,
        company_id=cred.company_id,
        name=cred.name,
        kind=cred.kind,
        username=cred.username,
        public=dict(cred.public_data or {}),
        used_by=used_by,
        created_at=cred.created_at,
        updated_at=cred.updated_at,
    )


def _require_admin(actor: Principal | None, company_id: str, action: str) -> None:
    if actor is not None:  # None: the system itself (demo seeding, tests)
        actor.require_company_admin(company_id, action, what="company")


async def _name_taken(session: AsyncSession, company_id: str, name: str, exclude: str | None = None) -> bool:
    stmt = select(Credential.id).where(Credential.company_id == company_id, Credential.name == name)
    if exclude:
        stmt = stmt.where(Credential.id != exclude)
    return (await session.execute(stmt)).first() is not None


async def create_credential(
    session: AsyncSession,
    *,
    actor: Principal | None,
    settings: Settings,
    clock: Clock,
    company_id: str,
    data: CredentialIn,
) -> CredentialOut:
    _require_admin(actor, company_id, "manage credentials")
    name = data.name.strip()
    if await _name_taken(session, company_id, name):
        raise Conflict(f"a credential named {name!r} already exists in this company")
    fields = _fields(data)
    secret, public = _check(data.kind, fields)
    now = clock.now()
    cred = Credential(
        company_id=company_id,
        name=name,
        kind=data.kind,
        username=fields["username"],
        secret_encrypted=crypto.encrypt(settings.secret(), json.dumps(secret)),
        public_data=public,
        created_at=now,
        updated_at=now,
    )
    session.add(cred)
    await session.flush()
    await audit.record(
        session,
        clock=clock,
        action="credential.created",
        actor=actor,
        company_id=company_id,
        target_type="credential",
        target_id=cred.id,
        details={
            "name": name,
            "kind": data.kind,
            "username": cred.username,
            **{k: v for k, v in public.items() if k != "public_key"},
        },
    )
    return to_out(cred)


async def _get(session: AsyncSession, actor: Principal | None, credential_id: str) -> Credential:
    cred = await session.get(Credential, credential_id)
    if cred is None or (actor is not None and not actor.sees_company(cred.company_id)):
        raise NotFound("credential not found")
    return cred


async def get_credential(session: AsyncSession, *, actor: Principal, credential_id: str) -> CredentialOut:
    cred = await _get(session, actor, credential_id)
    return to_out(cred, (await _used_by(session, [cred.id])).get(cred.id, 0))


async def list_credentials(session: AsyncSession, *, actor: Principal, company_id: str) -> list[CredentialOut]:
    actor.require_company(company_id)
    creds = list(
        (
            await session.execute(
                select(Credential).where(Credential.company_id == company_id).order_by(Credential.name)
            )
        ).scalars()
    )
    used = await _used_by(session, [c.id for c in creds])
    return [to_out(c, used.get(c.id, 0)) for c in creds]


async def update_credential(
    session: AsyncSession,
    *,
    actor: Principal | None,
    settings: Settings,
    clock: Clock,
    credential_id: str,
    data: CredentialUpdate,
) -> CredentialOut:
    """Rename / change the username / rotate. A rotation replaces the whole secret and is re-validated."""
    cred = await _get(session, actor, credential_id)
    _require_admin(actor, cred.company_id, "manage credentials")
    given = data.model_dump(exclude_none=True)
    changed: list[str] = []
    if "name" in given and given["name"].strip() != cred.name:
        if await _name_taken(session, cred.company_id, given["name"].strip(), exclude=cred.id):
            raise Conflict(f"a credential named {given['name'].strip()!r} already exists in this company")
        cred.name = given["name"].strip()
        changed.append("name")
    rotate = any(k in given for k in SECRET_FIELDS)
    public_keys = ("access_key_id", "role_arn", "external_id", "region", "username")
    if rotate or any(k in given for k in public_keys):
        old = json.loads(crypto.decrypt(settings.secret(), cred.secret_encrypted)) if not rotate else {}
        fields = {k: "" for k in (*SECRET_FIELDS, *public_keys)}
        fields.update({k: str(v) for k, v in (cred.public_data or {}).items() if k in public_keys})
        fields.update(old)
        fields["username"] = cred.username
        fields.update(
            {k: str(v).strip() if k not in SECRET_FIELDS else str(v) for k, v in given.items() if k in fields}
        )
        secret, public = _check(cred.kind, fields)
        cred.username = fields["username"]
        cred.public_data = public
        cred.secret_encrypted = crypto.encrypt(settings.secret(), json.dumps(secret))
        changed += [k for k in given if k != "name" and k not in SECRET_FIELDS]
        if rotate:
            changed.append("secret")
    if not changed:
        return to_out(cred, (await _used_by(session, [cred.id])).get(cred.id, 0))
    cred.updated_at = clock.now()
    await session.flush()
    await audit.record(
        session,
        clock=clock,
        action="credential.rotated" if rotate else "credential.updated",
        actor=actor,
        company_id=cred.company_id,
        target_type="credential",
        target_id=cred.id,
        details={
            "name": cred.name,
            "kind": cred.kind,
            "fields": sorted(set(changed)),
            "fingerprint": (cred.public_data or {}).get("fingerprint", ""),
        },
    )
    return to_out(cred, (await _used_by(session, [cred.id])).get(cred.id, 0))


async def delete_credential(
    session: AsyncSession, *, actor: Principal | None, clock: Clock, credential_id: str
) -> None:
    cred = await _get(session, actor, credential_id)
    _require_admin(actor, cred.company_id, "manage credentials")
    used = (await _used_by(session, [cred.id])).get(cred.id, 0)
    if used:
        raise Conflict(
            f"credential {cred.name!r} is used by {used} asset(s); give them another credential first",
            details={"used_by": used},
        )
    await audit.record(
        session,
        clock=clock,
        action="credential.deleted",
        actor=actor,
        company_id=cred.company_id,
        target_type="credential",
        target_id=cred.id,
        details={"name": cred.name, "kind": cred.kind},
    )
    await session.delete(cred)
    await session.flush()


def decrypt_secret(settings: Settings, cred: Credential) -> Secret:
    """The credential as a ``Secret`` for one run. Raises ``Conflict`` when it cannot be decrypted."""
    try:
        data: dict[str, str] = json.loads(crypto.decrypt(settings.secret(), cred.secret_encrypted))
    except (crypto.DecryptionError, ValueError) as exc:
        raise Conflict(
            f"credential {cred.name!r} cannot be decrypted (was the server's secret key changed?); "
            "enter its secret again"
        ) from exc
    public = cred.public_data or {}
    return Secret(
        kind=cred.kind,
        username=cred.username,
        password=data.get("password", ""),
        private_key=data.get("private_key", ""),
        passphrase=data.get("passphrase", ""),
        access_key_id=str(public.get("access_key_id", "")),
        secret_access_key=data.get("secret_access_key", ""),
        role_arn=str(public.get("role_arn", "")),
        external_id=str(public.get("external_id", "")),
    )


async def list_credentials_for_system(session: AsyncSession, *, company_id: str) -> list[CredentialOut]:
    """All credentials of a company, without an actor (jobs, demo seeding, tests)."""
    creds = list(
        (
            await session.execute(
                select(Credential).where(Credential.company_id == company_id).order_by(Credential.name)
            )
        ).scalars()
    )
    used = await _used_by(session, [c.id for c in creds])
    return [to_out(c, used.get(c.id, 0)) for c in creds]
