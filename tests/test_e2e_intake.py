"""End to end against the real Dovecot: referrals in the coordinator's inbox, coded mail in members' mailboxes.

Every person and agency here is fictional.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter

import pytest

from mailbot.sandbox.network import MASTER_LIST_PASSWORD
from conftest import SAMPLES, run_bot_until_idle, truth_for

pytestmark = pytest.mark.mailserver


def _all_text_of_docx(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist()
                         if n.endswith(".xml") or n.endswith(".rels"))


def _attachments(msg):
    return [(p.get_filename(), p.get_content()) for p in msg.iter_attachments()]


def test_referral_is_coded_and_reaches_exactly_the_right_members(network, bot, mailserver):
    form = SAMPLES / "S01-table.docx"
    truth = truth_for(form)
    referrer = network.members[0][1]
    network.send_referral(referrer, form)

    run_bot_until_idle(bot)

    # Every member except Social Work gets exactly one Coded Referral, without any name.
    for address in network.member_addresses:
        msgs = mailserver.fetch_all(address)
        coded = [m for m in msgs if m["X-Mailbot-Kind"] == "coded-referral"]
        assert len(coded) == 1, address
        msg = coded[0]
        assert msg["Subject"] == "[CN1] Coded referral"
        (name, data), = _attachments(msg)
        assert name == "CN1-coded-referral.docx"
        text = _all_text_of_docx(data).lower()
        for token in truth["protected_tokens"]:
            assert token.lower() not in text, (address, token)
        body = msg.get_body(("plain",)).get_content().lower()
        for token in truth["protected_tokens"]:
            assert token.lower() not in body
        for sentinel in truth["sentinels"]:
            assert sentinel.lower().replace("'", "&apos;") in text or sentinel.lower() in text
        # and exactly one encrypted Master List, which opens with the password and names the child
        lists = [m for m in msgs if m["X-Mailbot-Kind"] == "master-list"]
        assert len(lists) == 1
    sw = mailserver.fetch_all(network.social_work[1])
    assert [m["X-Mailbot-Kind"] for m in sw] == ["master-list"], "Social Work must not get the coded referral yet"

    # The Master List: encrypted, opens with the password, holds the name
    from mailbot.casework.master_list import decrypt_workbook
    import openpyxl

    (fname, enc), = _attachments(sw[0])
    assert fname.startswith("master-list")
    assert truth["young_people"][0]["surname"].encode() not in enc
    wb = openpyxl.load_workbook(io.BytesIO(decrypt_workbook(enc, MASTER_LIST_PASSWORD)))
    cells = [str(c.value) for row in wb.active.iter_rows() for c in row if c.value is not None]
    assert any("Harvey Pemberton" in c for c in cells)
    assert "CN1" in cells

    # The referrer is acknowledged with the code, never the name
    acks = [m for m in mailserver.fetch_all(referrer) if m["X-Mailbot-Kind"] == "acknowledgement"]
    assert len(acks) == 1 and "CN1" in acks[0]["Subject"]
    assert "harvey" not in acks[0].get_body(("plain",)).get_content().lower()
    # The coordinator is asked for the Social Work check
    coord = mailserver.fetch_all(network.coordinator)
    assert any(m["X-Mailbot-Kind"] == "coordinator-new-case" for m in coord)

    # The original is kept, moved to Processed
    assert mailserver.count(network.mailbox, "Processed") == 1
    assert mailserver.count(network.mailbox, "INBOX") == 0


def test_burst_of_referrals_gives_one_master_list_and_siblings_share_a_number(network, bot, mailserver):
    sender = network.members[1][1]
    network.send_referral(sender, SAMPLES / "S02-paragraphs.docx")
    network.send_referral(sender, SAMPLES / "S04-siblings-table.docx")
    network.send_referral(sender, SAMPLES / "S07-possessives.docx")

    run_bot_until_idle(bot)

    member = network.members[5][1]
    msgs = mailserver.fetch_all(member)
    kinds = Counter(m["X-Mailbot-Kind"] for m in msgs)
    assert kinds["coded-referral"] == 3
    assert kinds["master-list"] == 1, "a burst yields one updated Master List per member"
    subjects = sorted(m["Subject"] for m in msgs if m["X-Mailbot-Kind"] == "coded-referral")
    assert subjects == ["[CN1] Coded referral", "[CN2A, CN2B] Coded referral", "[CN3] Coded referral"]
    sib = [m for m in msgs if m["X-Mailbot-Kind"] == "coded-referral" and "CN2A" in m["Subject"]][0]
    (name, data), = _attachments(sib)
    assert name == "CN2A-CN2B-coded-referral.docx" or name.startswith("CN2")
    text = _all_text_of_docx(data)
    assert "CN2A" in text and "CN2B" in text
    for token in truth_for(SAMPLES / "S04-siblings-table.docx")["protected_tokens"]:
        assert token.lower() not in text.lower()


def test_same_form_twice_gets_the_existing_code_not_a_new_one(network, bot, mailserver):
    sender = network.members[2][1]
    network.send_referral(sender, SAMPLES / "S03-content-controls.docx")
    run_bot_until_idle(bot)
    network.send_referral(sender, SAMPLES / "S03-content-controls.docx")
    run_bot_until_idle(bot)

    member = network.members[4][1]
    coded = [m for m in mailserver.fetch_all(member) if m["X-Mailbot-Kind"] == "coded-referral"]
    assert len(coded) == 1
    dup = [m for m in mailserver.fetch_all(sender) if m["X-Mailbot-Kind"] == "duplicate-referral"]
    assert len(dup) == 1 and "CN1" in dup[0]["Subject"]
    assert [c.code for c in bot.store.open_cases()] == ["CN1"]


def test_bad_form_gets_a_plain_reply_and_is_quarantined(network, bot, mailserver):
    sender = network.members[3][1]
    raw = network.email_with(sender, "Referral", attachments=[("form.docx", b"this is not a word file")])
    mailserver.deliver_to_inbox(network.mailbox, raw)
    stranger = network.email_with("someone@elsewhere.example", "Referral",
                                  attachments=[("form.docx", (SAMPLES / "S01-table.docx").read_bytes())])
    mailserver.deliver_to_inbox(network.mailbox, stranger)
    run_bot_until_idle(bot)

    replies = [m for m in mailserver.fetch_all(sender) if m["X-Mailbot-Kind"] == "form-problem"]
    assert len(replies) == 1
    body = replies[0].get_body(("plain",)).get_content()
    assert "not a Word document" in body and "Traceback" not in body
    assert mailserver.count(network.mailbox, "Quarantine") == 2
    # nothing reached the members
    assert not [m for m in mailserver.fetch_all(network.members[0][1]) if m["X-Mailbot-Kind"] == "coded-referral"]
    assert bot.store.open_cases() == []
