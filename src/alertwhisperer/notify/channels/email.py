"""Email over SMTP (aiosmtplib): multipart/alternative text + HTML, STARTTLS / SSL / plain, optional login.

The password comes from ``Settings.smtp_password`` (a ``SecretStr``) and never reaches a log or an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib

from alertwhisperer.config import Settings
from alertwhisperer.notify.channels.base import ChannelError, Message

NOT_CONFIGURED = "email is not set up on this server (set ALERTWHISPERER_SMTP_HOST and ALERTWHISPERER_SMTP_FROM)"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    security: str = "starttls"  # none | starttls | ssl
    username: str | None = None
    password: str | None = None
    timeout: float = 15.0

    @classmethod
    def from_settings(cls, settings: Settings | None) -> SmtpConfig | None:
        if settings is None or not settings.smtp_host:
            return None
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
                   security=settings.smtp_security, username=settings.smtp_username or None, password=password,
                   timeout=settings.smtp_timeout)

    def __repr__(self) -> str:  # never show the password
        return f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r})"


def build(message: Message, sender: str) -> EmailMessage:
    """The MIME message: a text part and an HTML alternative."""
    name, address = parseaddr(message.to)
    if "@" not in address or any(c in address for c in "\r\n <>"):
        raise ChannelError(f"not an email address: {message.to!r}", permanent=True)
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = str(Address(display_name=name, addr_spec=address)) if name else address
    mail["Subject"] = message.subject.replace("\r", " ").replace("\n", " ")
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=(parseaddr(sender)[1].partition("@")[2] or "alertwhisperer.local"))
    mail["X-Alert-Whisperer-Severity"] = message.severity
    mail.set_content(message.text)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


def _permanent_code(code: int) -> bool:
    return 500 <= code < 600


class EmailChannel:
    name = "email"

    def __init__(self, config: SmtpConfig | None) -> None:
        self.config = config

    async def send(self, message: Message) -> None:
        config = self.config
        if config is None:
            raise ChannelError(NOT_CONFIGURED, permanent=True)
        mail = build(message, config.sender)
        try:
            await aiosmtplib.send(
                mail, hostname=config.host, port=config.port, username=config.username, password=config.password,
                use_tls=config.security == "ssl", start_tls=config.security == "starttls",
                timeout=config.timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise ChannelError(f"the mail server refused {message.to}: "
                               + "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:300],
                               permanent=all(_permanent_code(c) for c in codes)) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise ChannelError(f"the mail server refused our login ({exc.code}); check ALERTWHISPERER_SMTP_USERNAME "
                               "and ALERTWHISPERER_SMTP_PASSWORD", permanent=True) from None
        except aiosmtplib.SMTPNotSupported as exc:
            raise ChannelError(f"the mail server does not support what we asked ({exc}); check "
                               "ALERTWHISPERER_SMTP_SECURITY", permanent=True) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise ChannelError(f"the mail server answered {exc.code} {exc.message}"[:300],
                               permanent=_permanent_code(exc.code)) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise ChannelError(f"cannot reach the mail server {config.host}:{config.port}: "
                               f"{type(exc).__name__}: {exc}"[:300]) from None
