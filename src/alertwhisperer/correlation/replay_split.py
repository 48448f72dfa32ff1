"""Replaying on two cores: companies never share state, so a forked worker process correlates some companies'
lines while this process correlates the others', and the halves are merged (``replay_db.Prepared.merge``).

Every company is correlated by exactly one process, in the file's order, with the same ids, so the result is
byte-identical to a single-process run (tested). The worker only computes: this process keeps the database
session, the progress bar and the writes. Lines whose company cannot be told cheaply (not the first key) are
read in full to find it; lines of no known company stay here (they are rejected rows).

By default it is on when there is more than one CPU, ``os.fork``, two companies with lines and a file of 1 MiB
or more. ``AW_REPLAY_WORKERS=1`` turns it off; ``=2`` turns it on whatever the CPUs and the size (tests).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from alertwhisperer.correlation import replay_io

T = TypeVar("T")
MIN_BYTES = 1 << 20  # below this the fork and the hand-over cost more than they save
_FIRST_KEY = re.compile(r'\{\s*"company"\s*:\s*"([^"\\]*)"')
_FIRST_KEY_BYTES = re.compile(rb'^\s*\{\s*"company"\s*:\s*"([^"\\]*)"', re.MULTILINE)


def company_of(text: str) -> str | None:
    """The line's company slug as ``json.loads`` reads it (None when the line is not a JSON object)."""
    match = _FIRST_KEY.match(text)
    if match is not None and text.count('"company"') == 1:  # the first key, and no later one overrides it
        return match.group(1)
    try:
        item, _ = replay_io.parse_line(text)
    except ValueError:
        return None
    return str(item.get("company", "")) if isinstance(item, dict) else None


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan(path: Path, slugs: Iterable[str]) -> set[str] | None:
    """The companies for the worker (about half the lines), or None to replay in this process alone."""
    known = set(slugs)
    setting = os.environ.get("AW_REPLAY_WORKERS", "")
    if setting == "1" or not hasattr(os, "fork") or len(known) < 2:
        return None
    if setting != "2" and (_cpus() < 2 or path.stat().st_size < MIN_BYTES):
        return None
    counts: dict[str, int] = {}
    for match in _FIRST_KEY_BYTES.finditer(path.read_bytes()):
        slug = match.group(1).decode("utf-8", errors="replace")
        if slug in known:
            counts[slug] = counts.get(slug, 0) + 1
    if len(counts) < 2:
        return None
    mine, theirs, worker = 0, 0, set()
    for slug, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if theirs < mine:
            worker.add(slug)
            theirs += count
        else:
            mine += count
    return worker


class Worker(Generic[T]):
    """``work()`` in a forked child; ``result()`` waits for what it returned (pickled through a pipe)."""

    def __init__(self, work: Callable[[], T]) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, hand the result over, leave without running the parent's clean-ups
            os.close(read)
            code = 0
            try:
                data = pickle.dumps(("ok", work()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:
                data = pickle.dumps(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
            try:
                with os.fdopen(write, "wb") as fh:
                    fh.write(data)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self.fd = pid, read

    def result(self) -> T:
        try:
            with os.fdopen(self.fd, "rb") as fh:
                kind, value = pickle.load(fh)  # noqa: S301 (our own forked child wrote it)
        except (EOFError, pickle.UnpicklingError):
            kind, value = "error", "the worker process ended without a result"
        finally:
            os.waitpid(self.pid, 0)
        if kind != "ok":
            raise RuntimeError(f"replay worker failed: {value}")
        out: T = value
        return out

    def kill(self) -> None:
        """Stop the worker (this process failed and will not read its result)."""
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)


def select_lines(lines: Iterable[tuple[int, str]], worker: set[str], *, for_worker: bool
                 ) -> Iterator[tuple[int, str]]:
    """The lines one side correlates: the worker's companies' lines, or all others (unknown companies too)."""
    for number, text in lines:
        if (company_of(text) in worker) == for_worker:
            yield number, text
