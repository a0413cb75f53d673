"""End-to-end through the real Dovecot: nothing silent (issue 11 items 10 and 17).

Every person here is fictional (the sample forms' truth files).
"""

from __future__ import annotations

import pytest

from conftest import SAMPLES, run_bot_until_idle

pytestmark = pytest.mark.mailserver


def _coded_subjects(server, address):
    return sorted(m["Subject"] for m in server.fetch_all(address) if m["X-Mailbot-Kind"] == "coded-referral")


def test_same_message_id_other_content_is_handled_as_a_new_email(network, bot, mailserver):
    """Item 10: a second email with the Message-ID (and sender and date) of one already handled, but
    another form, is handled as a new email; the very same email delivered again is still done once."""
    sender = network.members[0][1]
    mid = "<one-id-for-two-emails@agency.test>"
    first = network.email_with(sender, "Referral", message_id=mid,
                               attachments=[("referral.docx", (SAMPLES / "S01-table.docx").read_bytes())])
    other = network.email_with(sender, "Referral", message_id=mid,
                               attachments=[("referral.docx", (SAMPLES / "S02-paragraphs.docx").read_bytes())])
    mailserver.deliver_to_inbox(network.mailbox, first, mail_from=sender)
    run_bot_until_idle(bot)
    mailserver.deliver_to_inbox(network.mailbox, first, mail_from=sender)  # the same email again
    mailserver.deliver_to_inbox(network.mailbox, other, mail_from=sender)
    run_bot_until_idle(bot)

    assert sorted(c.code for c in bot.store.open_cases()) == ["CN1", "CN2"]
    assert _coded_subjects(mailserver, network.members[3][1]) == ["[CN1] Coded referral", "[CN2] Coded referral"]
    assert mailserver.count(network.mailbox, "Processed") == 3
    assert mailserver.count(network.mailbox, "INBOX") == 0
    acks = [m for m in mailserver.fetch_all(sender) if m["X-Mailbot-Kind"] == "acknowledgement"]
    assert len(acks) == 2  # one per referral, none for the repeat
