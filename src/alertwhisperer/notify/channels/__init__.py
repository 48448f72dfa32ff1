"""Notification channels behind one Protocol (``base.Channel``): email (SMTP) and Apprise.

``channel_for`` builds the configured one; ``override`` swaps in another (``testing.RecordingChannel``) for
tests of code that notifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alertwhisperer.config import Settings
from alertwhisperer.notify.channels.base import Channel, ChannelError, Message

__all__ = ["Channel", "ChannelError", "Message", "channel_for", "is_overridden", "override"]

_overrides: dict[str, Channel] = {}


def channel_for(name: str, settings: Settings | None) -> Channel:
    if name in _overrides:
        return _overrides[name]
    if name == "email":
        from alertwhisperer.notify.channels.email import EmailChannel, SmtpConfig

        return EmailChannel(SmtpConfig.from_settings(settings))
    if name == "apprise":
        from alertwhisperer.notify.channels.apprise_channel import AppriseChannel

        return AppriseChannel(timeout=settings.apprise_timeout if settings else 20.0)
    raise ChannelError(f"unknown channel {name!r}", permanent=True)


def is_overridden(name: str) -> bool:
    return name in _overrides


@contextmanager
def override(name: str, channel: Channel) -> Iterator[Channel]:
    """Use ``channel`` for ``name`` inside the block."""
    previous = _overrides.get(name)
    _overrides[name] = channel
    try:
        yield channel
    finally:
        if previous is None:
            _overrides.pop(name, None)
        else:
            _overrides[name] = previous
