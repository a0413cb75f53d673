"""Test helpers for coordinator commands and their confirmation (mailbot.confirm), on the real Dovecot.

The token is read only from the coordinator's own mailbox, as the coordinator would. Fictional names only.
"""

from __future__ import annotations

import re

TOKEN_RE = re.compile(r"CONFIRM ([0-9a-f]{32})")


def send_command(network, text: str, *, sender: str | None = None, subject: str = "commands",
                 headers: dict | None = None) -> bytes:
    raw = network.email_with(sender or network.coordinator, subject, body=text)
    if headers:
        from email import message_from_bytes, policy

        msg = message_from_bytes(raw, policy=policy.default)
        for k, v in headers.items():
            del msg[k]
            msg[k] = v
        raw = msg.as_bytes()
    network.server.deliver_to_inbox(network.mailbox, raw, mail_from=sender or network.coordinator)
    return raw


def confirmation_requests(mailserver, address: str):
    return [m for m in mailserver.fetch_all(address) if m["X-Mailbot-Kind"] == "command-confirm"]


def token_of(msg) -> str:
    text = msg.get_body(("plain",)).get_content()
    tokens = set(TOKEN_RE.findall(text)) | set(TOKEN_RE.findall(str(msg["Subject"])))
    assert len(tokens) == 1, tokens
    return tokens.pop()


def latest_token(mailserver, address: str) -> str:
    requests = confirmation_requests(mailserver, address)
    assert requests, "no confirmation request in the coordinator's mailbox"
    return token_of(requests[-1])


def reply_confirm(network, token: str, *, sender: str | None = None, in_subject: bool = True) -> None:
    """The coordinator's reply to a confirmation request (token in the subject, or in the body)."""
    if in_subject:
        send_command(network, "Thanks\n", sender=sender, subject=f"Re: Please confirm your commands: CONFIRM {token}")
    else:
        send_command(network, f"CONFIRM {token}\n", sender=sender, subject="yes")


def command_confirmed(network, bot, mailserver, text: str, run) -> None:
    """Send commands from the coordinator, run the bot, confirm from the coordinator's mailbox.

    The confirmation is delivered but not yet processed: the caller's next run carries the commands out."""
    send_command(network, text)
    run(bot)
    reply_confirm(network, latest_token(mailserver, network.coordinator))
