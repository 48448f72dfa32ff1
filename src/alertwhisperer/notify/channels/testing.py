"""A recording channel for tests of code that notifies (it sends nothing; it keeps what it was given)."""

from __future__ import annotations

from dataclasses import dataclass, field

from alertwhisperer.notify.channels.base import ChannelError, Message


@dataclass
class RecordingChannel:
    """Records each message; ``fail_with`` makes the next sends raise (``permanent`` as given)."""

    name: str = "recording"
    sent: list[Message] = field(default_factory=list)
    fail_with: str | None = None
    permanent: bool = False

    async def send(self, message: Message) -> None:
        if self.fail_with is not None:
            raise ChannelError(self.fail_with, permanent=self.permanent)
        self.sent.append(message)
