"""The socket hub: live events and wake-up signals between processes of one host, without Redis."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from alertwhisperer.realtime.bus import SocketHub
from alertwhisperer.realtime.hub import Event


async def _next(subscription: object, timeout: float = 5.0) -> Event:
    return await asyncio.wait_for(subscription.__anext__(), timeout)  # type: ignore[attr-defined]


async def test_events_and_signals_reach_the_other_hub(tmp_path: Path) -> None:
    a, b = SocketHub(tmp_path / "hub", "a"), SocketHub(tmp_path / "hub", "b")
    await a.start()
    await b.start()
    try:
        on_a, on_b = a.listen(), b.listen()
        woken: list[str] = []
        b.on_signal("jobs", lambda: woken.append("b"))
        a.on_signal("jobs", lambda: woken.append("a"))
        await a.publish(Event("alert.received", "c1", {"id": "x1"}))
        assert (await _next(on_a)).data == {"id": "x1"}  # delivered locally at once
        got = await _next(on_b)
        assert (got.type, got.company_id, got.data) == ("alert.received", "c1", {"id": "x1"})
        a.signal("jobs")
        for _ in range(100):
            if woken == ["a", "b"]:
                break
            await asyncio.sleep(0.01)
        assert woken == ["a", "b"]
        assert (tmp_path / "hub").stat().st_mode & 0o777 == 0o700
    finally:
        await a.stop()
        await b.stop()
    assert not list((tmp_path / "hub").iterdir())  # sockets removed on stop


async def test_a_dead_peer_is_forgotten_and_bad_datagrams_are_ignored(tmp_path: Path) -> None:
    directory = tmp_path / "hub"
    hub = SocketHub(directory, "live")
    await hub.start()
    try:
        # a socket file left behind by a process that died (bound, then closed: nobody listens)
        dead = directory / "999999999.sock"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(str(dead))
        s.close()
        other = SocketHub(directory, "other")
        await other.start()
        sub = other.listen()
        await hub.publish(Event("incident.created", "c1", {"id": "i1"}))
        assert (await _next(sub)).data == {"id": "i1"}
        assert not dead.exists()
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sender.sendto(b"not json", str(other.path))
        sender.close()
        await hub.publish(Event("incident.updated", "c1", {"id": "i1"}))
        assert (await _next(sub)).type == "incident.updated"  # the reader survived the garbage
        await other.stop()
    finally:
        await hub.stop()


async def test_another_process_receives_what_we_publish(tmp_path: Path) -> None:
    directory = tmp_path / "hub"
    hub = SocketHub(directory, "parent")
    await hub.start()
    child = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from alertwhisperer.realtime.bus import SocketHub
        async def main():
            hub = SocketHub(Path({str(directory)!r}))
            await hub.start()
            sub = hub.listen()
            print("ready", flush=True)
            event = await asyncio.wait_for(sub.__anext__(), 20)
            print(event.type, event.data["id"], flush=True)
            await hub.stop()
        asyncio.run(main())
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", child, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
        await asyncio.sleep(1.1)  # past the sender's peer-list cache
        await hub.publish(Event("alert.received", "c1", {"id": "from-parent"}))
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"alert.received from-parent"
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
        await hub.stop()
