"""Opening a verified SSH connection, and fetching a server's host keys for an admin to confirm.

Nothing from the local user's ~/.ssh (keys, agent, config, known_hosts) is ever used: only the target's stored
known_hosts and its credential. A key the server presents that is not stored is refused, and the refusal names its
SHA256 fingerprint so an admin can compare it with what the host really has.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncssh

from alertwhisperer.remediation.executors.base import Target

HOST_KEY_ALGS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512")


class ConnectFailed(Exception):
    """Delivery failed before anything ran; the message says which step and why."""


class _Client(asyncssh.SSHClient):
    def __init__(self) -> None:
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = key  # only called for keys not in known_hosts: remember it for the message
        return False


def host_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _known_hosts(text: str) -> asyncssh.SSHKnownHosts:
    try:
        return asyncssh.import_known_hosts(text)
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise ConnectFailed(f"the stored host keys cannot be read ({exc}); fetch and confirm them again") from exc


async def connect(target: Target, *, delivery_seconds: float) -> asyncssh.SSHClientConnection:
    """Connect and authenticate within ``delivery_seconds``, or raise ``ConnectFailed`` saying what failed."""
    where = f"{target.host}:{target.port}"
    if not target.host:
        raise ConnectFailed("no host configured for this asset")
    if not target.known_hosts.strip():
        raise ConnectFailed(f"no host key stored for {target.host}; fetch and confirm it first")
    secret = target.secret
    if not secret.username:
        raise ConnectFailed("the credential has no username")
    keys: list[asyncssh.SSHKey] | None = None
    if secret.private_key:
        try:
            keys = [asyncssh.import_private_key(secret.private_key, secret.passphrase or None)]
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            raise ConnectFailed(f"the stored private key cannot be used: {exc}") from exc
    elif not secret.password:
        raise ConnectFailed("the credential has neither a private key nor a password")
    client = _Client()
    known = _known_hosts(target.known_hosts)
    try:
        conn, _ = await asyncio.wait_for(
            asyncssh.create_connection(
                lambda: client,
                target.host,
                target.port,
                username=secret.username,
                known_hosts=known,
                client_keys=keys,
                password=secret.password or None,
                agent_path=None,
                config=None,
                preferred_auth="publickey" if keys else "password,keyboard-interactive",
                connect_timeout=delivery_seconds,
                login_timeout=delivery_seconds,
                keepalive_interval=30,
                client_host_keys=None,
                x509_trusted_certs=None,
                gss_host=None,
            ),
            timeout=delivery_seconds + 1,
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        if client.presented is not None:
            fp = client.presented.get_fingerprint("sha256")
            alg = client.presented.algorithm.decode()
            raise ConnectFailed(
                f"host key mismatch for {where}: the server presented {alg} key {fp}, which is "
                "not the stored one; if the host was rebuilt, fetch and confirm its new key"
            ) from exc
        raise ConnectFailed(f"host key of {where} could not be verified: {exc.reason}") from exc
    except asyncssh.PermissionDenied as exc:
        how = "key" if keys else "password"
        raise ConnectFailed(f"authentication failed for {secret.username}@{where} ({how} refused)") from exc
    except asyncssh.KeyExchangeFailed as exc:
        raise ConnectFailed(
            f"key exchange with {where} failed (the stored host key types may not match the server's): {exc.reason}"
        ) from exc
    except asyncssh.DisconnectError as exc:
        raise ConnectFailed(f"{where} closed the connection: {exc.reason}") from exc
    except ConnectionRefusedError as exc:
        raise ConnectFailed(f"connection refused by {where} (is sshd running on that port?)") from exc
    except TimeoutError as exc:
        raise ConnectFailed(f"no answer from {where} within the delivery timeout of {delivery_seconds:g} s") from exc
    except OSError as exc:
        raise ConnectFailed(f"cannot reach {where}: {exc.strerror or exc}") from exc
    except asyncssh.Error as exc:
        raise ConnectFailed(f"SSH to {where} failed: {exc.reason}") from exc
    return conn


@dataclass(frozen=True)
class HostKey:
    line: str  # a known_hosts line: "<pattern> <type> <base64>"
    key_type: str
    fingerprint: str  # SHA256:...


async def fetch_host_keys(host: str, port: int = 22, timeout: float = 10.0) -> list[HostKey]:  # noqa: ASYNC109
    """The server's host keys (one per key type it offers), for an admin to compare and confirm. Stores nothing."""
    found: dict[str, HostKey] = {}
    errors: list[str] = []
    for alg in HOST_KEY_ALGS:
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(host, port, server_host_key_algs=[alg], config=None), timeout=timeout + 1
            )
        except asyncssh.KeyExchangeFailed:
            continue  # the server has no key of this type
        except ConnectionRefusedError as exc:
            raise ConnectFailed(f"connection refused by {host}:{port}") from exc
        except TimeoutError as exc:
            raise ConnectFailed(f"no answer from {host}:{port} within {timeout:g} s") from exc
        except (OSError, asyncssh.Error) as exc:
            errors.append(str(exc))
            continue
        if key is None:
            continue
        fp = key.get_fingerprint("sha256")
        if fp not in found:
            public = key.export_public_key("openssh").decode().split()
            found[fp] = HostKey(
                line=f"{host_pattern(host, port)} {public[0]} {public[1]}", key_type=public[0], fingerprint=fp
            )
    if not found:
        raise ConnectFailed(f"no host key obtained from {host}:{port}" + (f": {errors[0]}" if errors else ""))
    return list(found.values())
