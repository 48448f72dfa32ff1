"""The SSH executor against a real OpenSSH sshd on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from alertwhisperer.remediation.executors.base import MAX_OUTPUT, Command, Secret, Target
from alertwhisperer.remediation.executors.ssh import SshExecutor
from tests.remediation.sshd import Sshd, alive


def target(sshd: Sshd, **changes: object) -> Target:
    fields: dict[str, object] = dict(
        asset_id="a1",
        asset_name="web-1",
        company_id="c1",
        executor="ssh",
        host=sshd.host,
        port=sshd.port,
        known_hosts=sshd.known_hosts,
        secret=Secret(kind="ssh_key", username=sshd.username, private_key=sshd.private_key),
    )
    fields.update(changes)
    return Target(**fields)  # type: ignore[arg-type]


ANY_ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


class Recorder:
    def __init__(self) -> None:
        self.chunks: list[tuple[str, str]] = []

    async def __call__(self, stream: str, text: str) -> None:
        self.chunks.append((stream, text))

    def text(self, stream: str) -> str:
        return "".join(t for s, t in self.chunks if s == stream)


async def test_runs_a_script_and_changes_real_state(sshd: Sshd) -> None:
    marker = sshd.workdir / "touched"
    rec = Recorder()
    result = await SshExecutor().run(
        target(sshd), Command(script=f"echo hello\necho oops >&2\necho done > {marker}\nexit 0\n"), on_output=rec
    )
    assert result.status == "succeeded", result
    assert result.exit_code == 0
    assert result.stdout == "hello\n"
    assert result.stderr == "oops\n"  # the wrapper's own header line is not part of the output
    assert marker.read_text() == "done\n"
    assert rec.text("stdout") == "hello\n" and rec.text("stderr") == "oops\n"
    assert not result.truncated and result.duration_ms >= 0


async def test_exit_code_is_reported_as_failure(sshd: Sshd) -> None:
    result = await SshExecutor().run(target(sshd), Command(script="echo partial\nexit 7\n"))
    assert result.status == "failed"
    assert result.exit_code == 7
    assert result.stdout == "partial\n"
    assert "7" in result.error


async def test_bash_script_and_stdin_is_not_the_script(sshd: Sshd) -> None:
    script = 'arr=(a b c)\necho "${#arr[@]}"\nread -r line || echo "stdin empty"\necho after\n'
    result = await SshExecutor().run(target(sshd), Command(script=script, shell="bash"))  # noqa: S604
    assert result.status == "succeeded", result
    assert result.stdout == "3\nstdin empty\nafter\n"


async def test_output_arrives_in_order_while_running(sshd: Sshd) -> None:
    rec = Recorder()
    script = "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.1; done\n"
    result = await SshExecutor().run(target(sshd), Command(script=script), on_output=rec)
    assert result.status == "succeeded"
    assert rec.text("stdout") == "out1\nout2\nout3\n"
    assert rec.text("stderr") == "err1\nerr2\nerr3\n"
    assert len(rec.chunks) >= 4  # streamed in pieces, not one blob at the end
    outs = [t for s, t in rec.chunks if s == "stdout"]
    assert outs[0].startswith("out1")


async def test_timeout_kills_the_remote_process_group(sshd: Sshd) -> None:
    pidfile = sshd.workdir / "pids"
    script = f"sleep 300 &\necho $! > {pidfile}\necho $$ >> {pidfile}\necho started\nwait\n"
    result = await SshExecutor().run(target(sshd), Command(script=script, timeout_seconds=1))
    assert result.status == "timed_out"
    assert result.exit_code is None
    assert "timeout" in result.error
    assert result.stdout == "started\n"
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 2
    for pid in pids:  # both the background sleep and the script's shell are gone
        assert not alive(pid)


async def test_output_is_bounded_and_truncation_flagged(sshd: Sshd) -> None:
    rec = Recorder()
    script = f"head -c {MAX_OUTPUT + 5000} /dev/zero | tr '\\0' x\necho tail >&2\n"
    result = await SshExecutor().run(target(sshd), Command(script=script), on_output=rec)
    assert result.status == "succeeded"
    assert result.truncated
    assert len(result.stdout) == MAX_OUTPUT
    assert len(rec.text("stdout")) == MAX_OUTPUT
    assert result.stderr == "tail\n"


async def test_sudo_without_passwordless_sudo_fails_clearly(sshd: Sshd) -> None:
    marker = sshd.workdir / "ran"
    result = await SshExecutor().run(target(sshd, sudo=True), Command(script=f"touch {marker}\n"))
    has_sudo = subprocess.run(["sh", "-c", "command -v sudo"], capture_output=True).returncode == 0
    if has_sudo and os.geteuid() == 0:
        assert result.status == "succeeded", result  # root: sudo -n never asks
        assert marker.exists()
        return
    assert result.status == "failed"
    assert result.error.startswith("sudo -n failed"), result.error
    assert not marker.exists()  # the script never ran


async def test_no_stored_host_key_is_refused(sshd: Sshd) -> None:
    result = await SshExecutor().run(target(sshd, known_hosts=""), Command(script="true"))
    assert result.status == "undeliverable"
    assert result.error == f"no host key stored for {sshd.host}; fetch and confirm it first"


async def test_wrong_host_key_is_refused_naming_the_presented_key(sshd: Sshd, tmp_path: object) -> None:
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().split()
    wrong = f"[{sshd.host}]:{sshd.port} {other[0]} {other[1]}\n"
    marker = sshd.workdir / "must-not-exist"
    result = await SshExecutor().run(target(sshd, known_hosts=wrong), Command(script=f"touch {marker}"))
    assert result.status == "undeliverable"
    assert "host key mismatch" in result.error
    assert sshd.host_fingerprint in result.error
    assert not marker.exists()


async def test_key_for_another_host_is_refused(sshd: Sshd) -> None:
    line = sshd.known_hosts.replace(f"[{sshd.host}]:{sshd.port}", "[10.9.9.9]:22")
    result = await SshExecutor().run(target(sshd, known_hosts=line), Command(script="true"))
    assert result.status == "undeliverable"
    assert sshd.host_fingerprint in result.error


async def test_authentication_failure_is_undeliverable(sshd: Sshd) -> None:
    import asyncssh

    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    result = await SshExecutor().run(
        target(sshd, secret=Secret(kind="ssh_key", username=sshd.username, private_key=stranger)),
        Command(script="true"),
    )
    assert result.status == "undeliverable"
    assert result.error == f"authentication failed for {sshd.username}@{sshd.host}:{sshd.port} (key refused)"


async def test_connection_refused_is_undeliverable(sshd: Sshd) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    result = await SshExecutor().run(target(sshd, port=closed_port), Command(script="true"))
    assert result.status == "undeliverable"
    assert result.error.startswith(f"connection refused by {sshd.host}:{closed_port}")


async def test_delivery_timeout_when_the_server_never_answers() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the TCP connection, never speaks SSH
    try:
        port = listener.getsockname()[1]
        t = Target(
            asset_id="a",
            asset_name="x",
            company_id="c",
            executor="ssh",
            host="127.0.0.1",
            port=port,
            known_hosts=f"[127.0.0.1]:{port} ssh-ed25519 {ANY_ED25519}\n",
            secret=Secret(kind="ssh_password", username="x", password="y"),
        )
        result = await SshExecutor().run(t, Command(script="true", delivery_timeout_seconds=0.5))
    finally:
        listener.close()
    assert result.status == "undeliverable"
    assert "within the delivery timeout of 0.5 s" in result.error


@pytest.fixture
def password_user(sshd: Sshd) -> object:
    if os.geteuid() != 0:
        pytest.skip("creating a throwaway user with a password needs root")
    name = f"awtest{os.getpid() % 100000}"
    subprocess.run(["userdel", "-r", name], capture_output=True)
    subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], check=True, capture_output=True)
    subprocess.run(["chpasswd"], input=f"{name}:Sup3r-Secret-pw\n", text=True, check=True, capture_output=True)
    yield name
    subprocess.run(["userdel", name], capture_output=True)


async def test_password_authentication(sshd: Sshd, password_user: str) -> None:
    good = Secret(kind="ssh_password", username=password_user, password="Sup3r-Secret-pw")
    result = await SshExecutor().run(target(sshd, secret=good), Command(script="id -un"))
    assert result.status == "succeeded", result
    assert result.stdout == f"{password_user}\n"
    bad = Secret(kind="ssh_password", username=password_user, password="wrong")
    result = await SshExecutor().run(target(sshd, secret=bad), Command(script="id -un"))
    assert result.status == "undeliverable"
    assert "(password refused)" in result.error


async def test_passphrase_protected_key(sshd: Sshd, tmp_path: object) -> None:
    import asyncssh

    key = asyncssh.import_private_key(sshd.private_key)
    protected = key.export_private_key("pkcs8-pem", passphrase="horse battery").decode()  # OpenSSH format needs bcrypt
    secret = Secret(kind="ssh_key", username=sshd.username, private_key=protected, passphrase="horse battery")
    result = await SshExecutor().run(target(sshd, secret=secret), Command(script="echo ok"))
    assert result.status == "succeeded" and result.stdout == "ok\n"
    wrong = Secret(kind="ssh_key", username=sshd.username, private_key=protected, passphrase="nope")
    result = await SshExecutor().run(target(sshd, secret=wrong), Command(script="echo ok"))
    assert result.status == "undeliverable"
    assert "private key cannot be used" in result.error


async def test_command_environment_reaches_the_script(sshd: Sshd) -> None:
    result = await SshExecutor().run(target(sshd), Command(script='echo "$AW_SERVICE"', env={"AW_SERVICE": "it's ok"}))
    assert result.stdout == "it's ok\n"
