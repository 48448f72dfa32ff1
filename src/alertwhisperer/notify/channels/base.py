"""The one narrow interface every notification channel implements, and the message it sends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """One rendered notification for one recipient.

    ``to``: an email address (email) or an Apprise URL (apprise; a secret: never log it).
    ``text``: the plain-text body; ``html``: the HTML alternative (email); ``markdown``: the chat body (Apprise).
    """

    to: str
    subject: str
    text: str
    html: str = ""
    markdown: str = ""
    severity: str = "info"


class ChannelError(Exception):
    """Sending failed. ``permanent``: retrying cannot help (bad address, nothing configured, invalid URL).

    The message must be safe to store and show: never a password or an Apprise URL."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class Channel(Protocol):
    """Sends a message; raises :class:`ChannelError` when it could not. Has an explicit timeout."""

    name: str

    async def send(self, message: Message) -> None: ...
