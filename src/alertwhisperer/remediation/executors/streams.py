"""Output plumbing shared by the executors: incremental UTF-8 decoding into bounded buffers, forwarded live."""

from __future__ import annotations

import codecs
import time

from alertwhisperer.remediation.executors.base import BoundedOutput, OutputSink, RunResult, Stream


class Capture:
    """stdout + stderr of one run: decoded as they arrive, kept bounded, forwarded to the live sink."""

    def __init__(self, on_output: OutputSink | None) -> None:
        self.on_output = on_output
        self.started = time.monotonic()
        self.out = {"stdout": BoundedOutput(), "stderr": BoundedOutput()}
        self._decoders = {name: codecs.getincrementaldecoder("utf-8")(errors="replace") for name in self.out}

    async def feed(self, stream: Stream, data: bytes | str, *, final: bool = False) -> None:
        text = data if isinstance(data, str) else self._decoders[stream].decode(data, final)
        if not text:
            return
        kept = self.out[stream].add(text)
        if kept and self.on_output is not None:
            await self.on_output(stream, kept)

    async def flush(self) -> None:
        for name in ("stdout", "stderr"):
            await self.feed(name, b"", final=True)

    def result(
        self,
        status: str,
        *,
        exit_code: int | None = None,
        error: str = "",
        external_id: str = "",
        truncated: bool = False,
    ) -> RunResult:
        return RunResult(
            status=status,  # type: ignore[arg-type]
            exit_code=exit_code,
            stdout=self.out["stdout"].text,
            stderr=self.out["stderr"].text,
            truncated=truncated or self.out["stdout"].truncated or self.out["stderr"].truncated,
            duration_ms=int((time.monotonic() - self.started) * 1000),
            error=error,
            external_id=external_id,
        )
