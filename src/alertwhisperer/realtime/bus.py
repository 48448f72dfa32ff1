"""A hub that spans the processes of one host without Redis: Unix datagram sockets in a directory.

The embedded default runs the API in one process and the job worker in another (see ``jobs.supervisor``),
so live events the worker emits (alert received, incident opened) must reach the WebSockets the API process
serves, and the API process must be able to wake the worker when it commits a delivery. Each process binds
``<dir>/<pid>.sock``; publishing delivers locally and sends one datagram to every other socket in the
directory (the list is cached for a second). Datagrams on a Unix socket are never reordered or corrupted;
when a receiver's buffer is full the event is dropped for that receiver and counted (live events are
best-effort by design: pages re-read the database; nothing durable travels here). A socket whose process
is gone is removed by the first sender that finds it refusing.

Several hosts, or more than a handful of processes: configure Redis (``RedisHub``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import structlog

from alertwhisperer.realtime.hub import Event, LocalHub

log = structlog.get_logger(__name__)

MAX_DATAGRAM = 60_000  # bytes; larger events are dropped with a warning (ours are < 4 KiB)
PEER_REFRESH = 1.0  # seconds between directory scans for peers


class SocketHub(LocalHub):
    def __init__(self, directory: Path, name: str | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.path = directory / f"{name or os.getpid()}.sock"
        self._sock: socket.socket | None = None
        self._peers: list[str] = []
        self._peers_at = 0.0
        self.dropped = 0  # datagrams a full receiver could not take

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = self.directory.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o077:  # someone else's: never trust its sockets
            log.error("realtime.bus_unsafe_directory", directory=str(self.directory),
                      hint="must be owned by this user with mode 0700; live events stay in this process")
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a previous process with our pid died without cleaning up
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    async def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        await super().stop()

    async def publish(self, event: Event) -> None:
        self.deliver(event)
        self._broadcast({"event": event.__dict__})

    def signal(self, name: str) -> None:
        super().signal(name)
        self._broadcast({"signal": name})

    # --- sending ---------------------------------------------------------------------------------------
    def _broadcast(self, message: dict[str, Any]) -> None:
        if self._sock is None:
            return
        data = json.dumps(message, default=str, separators=(",", ":")).encode()
        if len(data) > MAX_DATAGRAM:
            log.warning("realtime.event_too_large", size=len(data))
            return
        for peer in list(self._peer_paths()):
            try:
                self._sock.sendto(data, peer)
            except BlockingIOError:
                self.dropped += 1
            except (ConnectionRefusedError, FileNotFoundError):
                self._forget(peer)
            except OSError as exc:
                log.warning("realtime.bus_send_failed", peer=peer, error=str(exc))

    def _peer_paths(self) -> list[str]:
        now = time.monotonic()
        if now - self._peers_at > PEER_REFRESH:
            mine = str(self.path)
            try:
                self._peers = [e.path for e in os.scandir(self.directory)
                               if e.name.endswith(".sock") and e.path != mine]
            except FileNotFoundError:
                self._peers = []
            self._peers_at = now
        return self._peers

    def _forget(self, peer: str) -> None:
        """A socket nobody listens on: its process is gone (remove the file unless that pid still runs)."""
        with contextlib.suppress(ValueError):
            self._peers.remove(peer)
        try:
            pid = int(Path(peer).stem)
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(peer)
        except PermissionError:
            pass

    # --- receiving -------------------------------------------------------------------------------------
    def _readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("realtime.bus_recv_failed", error=str(exc))
                return
            try:
                message = json.loads(data)
                if "signal" in message:
                    LocalHub.signal(self, str(message["signal"]))
                elif "event" in message:
                    self.deliver(Event(**message["event"]))
            except Exception as exc:  # a malformed datagram must not stop the reader
                log.warning("realtime.bus_bad_message", error=str(exc)[:200])
