"""Apprise (Slack, Microsoft Teams, Telegram, Discord, SMS gateways, generic JSON webhooks, ...).

An Apprise URL holds the target's tokens, so it is a secret: it is stored encrypted, shown only as
:func:`redact` gives it (scheme and a real host name, never a token), and Apprise's own logger is kept out of
the application's logs (it logs the URLs it posts to). What went wrong is taken from the call's captured log
entries, with every part of the URL scrubbed out.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise

from alertwhisperer.notify.channels.base import ChannelError, Message

_apprise_log = logging.getLogger("apprise")
_apprise_log.propagate = False  # it logs target URLs (tokens) at DEBUG; we report scrubbed errors ourselves

HOSTNAME = re.compile(r"^(?=.*[a-z])[a-z0-9-]+(\.[a-z0-9-]+)+$", re.IGNORECASE)
TYPES = {"critical": apprise.NotifyType.FAILURE, "high": apprise.NotifyType.FAILURE,
         "medium": apprise.NotifyType.WARNING, "low": apprise.NotifyType.INFO, "info": apprise.NotifyType.INFO,
         "success": apprise.NotifyType.SUCCESS}
EXAMPLES = [
    ("Slack", "slack://TokenA/TokenB/TokenC/#alerts"),
    ("Microsoft Teams", "msteams://team/tokenA/tokenB/tokenC/"),
    ("Telegram", "tgram://bot_token/chat_id"),
    ("Discord", "discord://webhook_id/webhook_token"),
    ("SMS (Twilio)", "twilio://AccountSid:AuthToken@FromPhoneNo/ToPhoneNo"),
    ("Generic JSON webhook", "jsons://hooks.example.com/alert-whisperer"),
]


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _real_host(host: str) -> bool:
    if host == "localhost" or HOSTNAME.match(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def redact(url: str) -> str:
    """``scheme://host`` when the host is a real host name or address, else ``scheme://…`` (for most services
    the "host" is a token: ``tgram://<bot token>/...``). Never credentials, paths or query values."""
    scheme = _scheme(url) or "?"
    rest = url.split("://", 1)[1] if "://" in url else ""
    netloc = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    host = netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc
    return f"{scheme}://{host.lower()}" if host and _real_host(host) else f"{scheme}://…"


def secrets_of(url: str) -> list[str]:
    """Every piece of the URL that could be a token (to scrub from error messages), longest first."""
    pieces: set[str] = {url}
    try:
        parts = urlsplit(url)
        pieces |= {p for p in (parts.username, parts.password, parts.netloc) if p}
        pieces |= {unquote(p) for p in re.split(r"[/:@?&=#]", url.split("://", 1)[-1]) if p}
        pieces |= {v for _, v in parse_qsl(parts.query)}
    except ValueError:
        pass
    keep = {urlsplit("x://" + redact(url).split("://", 1)[1]).hostname or ""}
    return sorted((p for p in pieces if len(p) >= 4 and p not in keep), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    for piece in secrets_of(url):
        text = text.replace(piece, "…")
    return text


def is_valid(url: str) -> bool:
    """Apprise knows the scheme and the URL has what that service needs."""
    if not url or any(c.isspace() for c in url) or "://" not in url:
        return False
    return bool(apprise.Apprise().add(url))


class AppriseChannel:
    name = "apprise"

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout

    async def send(self, message: Message) -> None:
        url = message.to
        target = redact(url)
        sender = apprise.Apprise()
        if not sender.add(url):
            raise ChannelError(f"{target} is not a valid Apprise URL (unknown service or missing parts)",
                               permanent=True)
        try:
            result = await asyncio.wait_for(sender.async_notify(
                body=message.markdown or message.text, title=message.subject,
                body_format=apprise.NotifyFormat.MARKDOWN, notify_type=TYPES.get(message.severity,
                                                                                  apprise.NotifyType.INFO),
                timeout=self.timeout), timeout=self.timeout + 5)
        except TimeoutError:
            raise ChannelError(f"{target} did not answer within {self.timeout:g} s") from None
        except Exception as exc:  # Apprise raises on a message it cannot use; never echo the URL
            raise ChannelError(scrub(f"{target}: {type(exc).__name__}: {exc}", url)[:300]) from None
        if not result:
            details = "; ".join(e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL"))
            raise ChannelError(scrub(f"{target} failed: {details or 'no details'}", url)[:300])
