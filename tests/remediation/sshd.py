"""A real OpenSSH sshd on a loopback port for the SSH executor tests.

One sshd process per test session (started on first use, stopped when the session ends); every test gets its own
fresh ``workdir``. The server accepts the generated client key for the current user (``AuthorizedKeysFile`` is an
absolute path, so any local user with that key gets in) and passwords (``UsePAM no``: /etc/shadow is checked).

``await sshd.configure(session, settings=, clock=, company_id=, asset_id=)`` stores a credential and the asset's
access through the real services, so any test can aim an execution at this server.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings

SSHD = "/usr/sbin/sshd"
_STASH = pytest.StashKey["SshServer"]()


@dataclass
class SshServer:
    host: str
    port: int
    username: str
    private_key: str  # OpenSSH PEM text of the client key
    public_key: str
    known_hosts: str  # the line for [127.0.0.1]:port
    host_fingerprint: str
    base: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        path = self.base / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.base, ignore_errors=True)


@dataclass
class Sshd:
    """What a test sees: the shared server plus its own work directory."""

    server: SshServer
    workdir: Path

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def username(self) -> str:
        return self.server.username

    @property
    def private_key(self) -> str:
        return self.server.private_key

    @property
    def known_hosts(self) -> str:
        return self.server.known_hosts

    @property
    def host_fingerprint(self) -> str:
        return self.server.host_fingerprint

    def log(self) -> str:
        """What sshd logged so far (for assertion messages)."""
        return self.server.log()

    async def configure(
        self,
        session: AsyncSession,
        *,
        settings: Settings,
        clock: Clock,
        company_id: str,
        asset_id: str,
        sudo: bool = False,
    ) -> None:
        """Store a key credential and the asset's SSH access (host key confirmed) for this server; commits.

        Calling it again for the same asset (e.g. to switch ``sudo``) reuses the credential."""
        from alertwhisperer.remediation import access, credentials
        from alertwhisperer.remediation.access_schemas import AccessIn, CredentialIn

        name = f"test sshd {asset_id[:8]}"
        existing = [
            c for c in await credentials.list_credentials_for_system(session, company_id=company_id) if c.name == name
        ]
        cred_id = (
            existing[0].id
            if existing
            else (
                await credentials.create_credential(
                    session,
                    actor=None,
                    settings=settings,
                    clock=clock,
                    company_id=company_id,
                    data=CredentialIn(name=name, kind="ssh_key", username=self.username, private_key=self.private_key),
                )
            ).id
        )
        await access.set_access(
            session,
            actor=None,
            settings=settings,
            clock=clock,
            asset_id=asset_id,
            data=AccessIn(executor="ssh", host=self.host, port=self.port, credential_id=cred_id, sudo=sudo),
        )
        await access.confirm_host_key(session, actor=None, clock=clock, asset_id=asset_id, lines=self.known_hosts)
        await session.commit()


def alive(pid: int) -> bool:
    """Running (a zombie is dead: in a container nobody may reap it)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "\nState:\tZ" not in fh.read()
    except FileNotFoundError:
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)], check=True, stdin=subprocess.DEVNULL
    )


def _fingerprint(pub: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)], check=True, capture_output=True, text=True
    ).stdout
    return out.split()[1]


def start_server() -> SshServer:
    if not os.path.exists(SSHD):
        pytest.skip(f"{SSHD} is not installed")
    base = Path(tempfile.mkdtemp(prefix="aw-sshd-"))
    os.chmod(base, 0o755)  # noqa: S103  (sshd of a throwaway user reads authorized_keys here)
    _keygen(base / "host_key")
    _keygen(base / "client_key")
    public_key = (base / "client_key.pub").read_text().strip()
    (base / "authorized_keys").write_text(public_key + "\n")
    os.chmod(base / "authorized_keys", 0o644)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    port = _free_port()
    root = os.geteuid() == 0
    config = (
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {base / 'host_key'}",
                f"PidFile {base / 'sshd.pid'}",
                f"AuthorizedKeysFile {base / 'authorized_keys'}",
                "UsePAM no",
                "StrictModes no",
                "PasswordAuthentication yes",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "MaxStartups 100",
                "MaxSessions 100",
                "MaxAuthTries 10",
                "LogLevel VERBOSE",
                "PrintMotd no",
                "AcceptEnv LANG LC_*",
                "Subsystem sftp internal-sftp",
                "PermitRootLogin prohibit-password" if root else "",
            ]
        )
        + "\n"
    )
    (base / "sshd_config").write_text(config)
    log = open(base / "sshd.log", "wb")  # noqa: SIM115  (kept open for the process' lifetime)
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(base / "sshd_config")], stdout=log, stderr=log, stdin=subprocess.DEVNULL
    )
    log.close()
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            text = (base / "sshd.log").read_text(errors="replace")
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(f"sshd exited with {process.returncode}: {text}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("sshd did not start listening within 15 s") from None
            time.sleep(0.05)
    host_pub = (base / "host_key.pub").read_text().split()
    return SshServer(
        host="127.0.0.1",
        port=port,
        username=getpass.getuser(),
        private_key=(base / "client_key").read_text(),
        public_key=public_key,
        known_hosts=f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n",
        host_fingerprint=_fingerprint(base / "host_key.pub"),
        base=base,
        process=process,
    )


def shared_server(config: pytest.Config) -> SshServer:
    """The session's sshd, started on first use (and restarted if it died)."""
    server = config.stash.get(_STASH, None)
    if server is None or server.process.poll() is not None:
        server = start_server()
        config.stash[_STASH] = server
        config.add_cleanup(server.stop)
    return server


@pytest.fixture
def sshd(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Sshd:
    server = shared_server(request.config)
    workdir = tmp_path_factory.mktemp("sshd-work")
    os.chmod(workdir, 0o777)  # noqa: S103  (throwaway users of the password tests write here too)
    return Sshd(server=server, workdir=workdir)
