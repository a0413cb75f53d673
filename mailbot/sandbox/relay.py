"""The sandbox's SMTP endpoint: aiosmtpd accepts mail for known users and hands each message to Dovecot over LMTP.

The relay asks its server (a :class:`mailbot.sandbox.mailserver.MailServer`) three things: ``has_user``,
``password_ok`` (with SMTP AUTH) and ``lmtp_send``; it counts what it delivered in ``server.relayed``.
"""

from __future__ import annotations

import asyncio
import smtplib


class RelayHandler:
    """aiosmtpd handler: accept RCPTs for known users, hand the message to Dovecot over LMTP."""

    def __init__(self, server):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.server.has_user(address):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        failures = []
        loop = asyncio.get_running_loop()
        # One LMTP transaction per recipient: smtplib.LMTP reads a single
        # reply after DATA, while LMTP answers once per recipient. Each in a
        # thread, so that several SMTP sessions deliver at once (as a real
        # provider would), not one after the other on this event loop.
        for rcpt in envelope.rcpt_tos:
            try:
                await loop.run_in_executor(None, self.server.lmtp_send, envelope.mail_from or "", rcpt, data)
            except smtplib.SMTPResponseException as exc:
                failures.append((exc.smtp_code, exc.smtp_error))
            except smtplib.SMTPRecipientsRefused as exc:
                code, msg = next(iter(exc.recipients.values()))
                failures.append((code, msg))
            except (OSError, smtplib.SMTPException) as exc:
                failures.append((451, str(exc).encode()))
        if not failures:
            self.server.relayed += 1
            return "250 OK delivered"
        return _refusal(failures, len(envelope.rcpt_tos))


def _refusal(failures: list[tuple[int, bytes | str]], recipients: int) -> str:
    """The SMTP reply for a message some or all of whose recipients' LMTP deliveries failed (the first reason)."""
    code, msg = failures[0]
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    msg = " ".join(str(msg).split())
    if len(failures) < recipients:
        msg = f"partly delivered: {msg}"
    return f"{code if 400 <= code < 600 else 451} {msg}"


class Authenticator:
    """SMTP AUTH PLAIN/LOGIN against the server's mailbox users."""

    def __init__(self, server):
        self.server = server

    def __call__(self, smtp, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            pw = auth_data.password.decode("utf-8", "replace")
            return AuthResult(success=self.server.password_ok(user, pw), handled=False)
        return AuthResult(success=False, handled=False)


def start_relay(server, host: str, port: int, *, smtp_auth: bool):
    """A started aiosmtpd Controller relaying to ``server`` (SMTP AUTH required when ``smtp_auth``)."""
    from aiosmtpd.controller import Controller

    kwargs = dict(hostname=host, port=port, data_size_limit=64 * 1024 * 1024, ready_timeout=5.0)
    if smtp_auth:
        kwargs.update(authenticator=Authenticator(server), auth_required=True, auth_require_tls=False)
    ctl = Controller(RelayHandler(server), **kwargs)
    ctl.start()
    return ctl


def stop_relay(ctl) -> None:
    if ctl is not None:
        try:
            ctl.stop()
        except Exception:  # already stopped / loop gone
            pass


def lmtp_send(host: str, port: int, mail_from: str, rcpt: str, data: bytes) -> None:
    """One LMTP transaction: ``data`` delivered to ``rcpt``'s mailbox."""
    with smtplib.LMTP(host, port, timeout=15) as lmtp:
        lmtp.sendmail(mail_from, [rcpt], data)
