"""The IMAP connection's settings, and what a failed connection is called in one plain line.

:class:`ImapSettings` configures :class:`mailbot.mail.inbox.InboxWatcher`; :func:`describe_error` words a
connection or login failure for the log and ``mailbot check-config``; :func:`no_protocol_log` keeps
imapclient from logging the protocol (whole emails).
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    tls: str = "ssl"  # "none" | "ssl" | "starttls"
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    idle_renew_seconds: float = 540.0  # well before the 29/30 min server limit
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # any single command/reply
    liveness_seconds: float = 60.0  # watchdog: prove the connection is alive this often
    full_pass_seconds: float = 300.0  # re-offer everything still in the folder (retries)
    backoff_min: float = 0.5
    backoff_max: float = 30.0

    def __post_init__(self):
        if self.tls not in ("none", "ssl", "starttls"):
            raise ValueError("imap tls must be one of: none, ssl, starttls")


def no_protocol_log(client) -> None:
    """No IMAP protocol log, whatever the logging levels: it would hold whole fetched emails.

    imapclient turns imaplib's debug output on (level 5: every line and every untagged response,
    message bodies included) and sends it to the ``imapclient.imaplib`` logger at DEBUG, so
    ``mailbot -v`` (or DEBUG on every logger) would write children's names to the log. Off at the
    source: nothing is formatted at all."""
    imap = getattr(client, "_imap", None)
    if imap is not None:
        imap.debug = 0
        imap._mesg = lambda *args, **kwargs: None
        imap._log = lambda *args, **kwargs: None


def describe_error(exc: BaseException) -> str:
    """A connection or login failure in a few plain words (for the log and check-config)."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    name = type(exc).__name__
    if name == "LoginError":
        return "login refused"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "the server's TLS certificate could not be verified"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed: check the port and the tls setting"
    if name == "CapabilityError":
        return f"the server lacks a needed capability ({' '.join(str(a) for a in exc.args)[:80]})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return name
