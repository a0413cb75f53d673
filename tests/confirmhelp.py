"""Test helpers for coordinator commands and their confirmation (mailbot.casework.confirm), on the real Dovecot.

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
    assert not TOKEN_RE.search(str(msg["Subject"])), "the code is never in the subject (auto-replies quote it)"
    tokens = set(TOKEN_RE.findall(text))
    assert len(tokens) == 1, tokens
    return tokens.pop()


def latest_token(mailserver, address: str) -> str:
    requests = confirmation_requests(mailserver, address)
    assert requests, "no confirmation request in the coordinator's mailbox"
    return token_of(requests[-1])


def reply_confirm(network, token: str, *, sender: str | None = None, in_subject: bool = False) -> None:
    """The coordinator's reply to a confirmation request: the request quoted in the body (as a mail client
    replies), or the code typed into the subject."""
    if in_subject:
        send_command(network, "Thanks\n", sender=sender, subject=f"CONFIRM {token}")
    else:
        send_command(network, f"Yes, please.\n\n> To carry them out, reply to this email\n>\n> CONFIRM {token}\n",
                     sender=sender, subject="Re: Please confirm your commands (reply to this email)")


def command_confirmed(network, bot, mailserver, text: str, run) -> None:
    """Send commands from the coordinator, run the bot, confirm from the coordinator's mailbox.

    The confirmation is delivered but not yet processed: the caller's next run carries the commands out."""
    send_command(network, text)
    run(bot)
    reply_confirm(network, latest_token(mailserver, network.coordinator))
