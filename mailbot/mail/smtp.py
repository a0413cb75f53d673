"""The SMTP connection of the outbox and of ``mailbot check-config``: its settings, opening and closing it,
and what went wrong in one line (a server's reply or a connection error; the outbox takes the recipients'
addresses out before it logs one).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass

import aiosmtplib

from mailbot.errors import ConfigError

# Errors that mean "the connection is gone / the server did not answer".
CONNECTION_ERRORS = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError,
                     aiosmtplib.SMTPTimeoutError, ConnectionError, OSError, asyncio.TimeoutError)


@dataclass
class SmtpSettings:
    host: str
    port: int
    tls: str = "none"            # "none" | "ssl" | "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 10
    validate_certs: bool = True
    tls_context: ssl.SSLContext | None = None
    #: the name given in EHLO; never looked up in the DNS (aiosmtplib's default, socket.getfqdn, asks the
    #: resolver at every connection and can hang for long where there is none): the mailbox's domain,
    #: or this host's own name
    local_hostname: str | None = None

    def __post_init__(self):
        if self.tls not in ("none", "ssl", "starttls"):
            raise ConfigError(f"smtp tls must be none, ssl or starttls (not {self.tls!r}).")



def describe_error(exc: BaseException) -> str:
    """An SMTP reply or error as one short line (its code and text, or the error's type and text)."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = f"{code} {message}" if code else f"{type(exc).__name__}: {message}"
    return " ".join(text.split())[:300]



def _own_name() -> str:
    """This host's name as the system knows it (no DNS lookup), or "localhost"."""
    name = socket.gethostname().strip()
    return name if name and all(ch.isalnum() or ch in ".-" for ch in name) else "localhost"


async def open_smtp(s: SmtpSettings) -> aiosmtplib.SMTP:
    """A connected (and logged-in, if configured) aiosmtplib client."""
    client = aiosmtplib.SMTP(hostname=s.host, port=s.port, timeout=s.timeout,
                             use_tls=s.tls == "ssl", start_tls=(s.tls == "starttls"),
                             validate_certs=s.validate_certs, tls_context=s.tls_context,
                             local_hostname=s.local_hostname or _own_name())
    try:
        await client.connect()
        if s.username:
            await client.login(s.username, s.password or "")
    except BaseException:
        await close_smtp(client)
        raise
    return client


async def close_smtp(client: aiosmtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        if client.is_connected:
            await asyncio.wait_for(client.quit(), timeout=2)
    except Exception:
        client.close()


async def probe_smtp(cfg) -> None:
    """Connect, log in, NOOP, quit: for `mailbot check-config`. ``cfg`` is a
    Config (with ``.smtp``) or SmtpSettings. Raises a one-line MailbotError."""
    from mailbot.errors import MailbotError

    raw = getattr(cfg, "smtp", cfg)
    settings = raw if isinstance(raw, SmtpSettings) else SmtpSettings(
        host=raw.host, port=raw.port, tls=getattr(raw, "tls", "none"), username=getattr(raw, "username", None),
        password=getattr(raw, "password", None), timeout=getattr(raw, "timeout", 10),
        local_hostname=getattr(cfg, "domain", None))
    try:
        client = await open_smtp(settings)
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise MailbotError(f"the mail server refused the login ({describe_error(exc)})", reason="smtp") from None
    except (aiosmtplib.SMTPException, *CONNECTION_ERRORS) as exc:
        raise MailbotError(f"cannot reach the mail server ({describe_error(exc)})", reason="smtp") from None
    try:
        await client.noop()
    finally:
        await close_smtp(client)
