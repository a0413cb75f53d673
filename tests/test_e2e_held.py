"""End to end on the real Dovecot: a referral whose coded copy still holds a word that looks like a
name is held for the coordinator (issue 10 items 12-13), and the coordinator finishes it by email.

The form names a friend, "Bartholomew", nowhere in its fields: the reader cannot know him, the
recall check does. Every person here is fictional.
"""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from docx import Document

from confirmhelp import latest_token, reply_confirm, send_command
from leakcheck import find_leaks

pytestmark = pytest.mark.mailserver


def run_bot(bot, timeout: float = 30.0) -> None:
    bot.drain_inbox_once()
    asyncio.run(bot.make_outbox().drain_until_empty(timeout))


def form_with_a_stray_name() -> bytes:
    doc = Document()
    doc.add_paragraph("Network Referral Form")
    doc.add_paragraph("Section A – About the young person")
    t = doc.add_table(rows=0, cols=2)
    for label, value in (("Name of young person", "Zofia Wrzesniewska"), ("Date of birth", "11/09/2012"),
                         ("Gender", "Female"), ("School", "Harbourside Academy")):
        cells = t.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.add_paragraph("Section D – Reasons for referral")
    doc.add_paragraph("Zofia spends most evenings at the flat of a friend, Bartholomew, who is much older.",
                      style="List Bullet")
    doc.add_paragraph("Zofia has missed nine days of school this term.", style="List Bullet")
    doc.add_paragraph("Section C – Referrer")
    r = doc.add_table(rows=0, cols=2)
    for label, value in (("Referring agency", "Harbourside Youth Project"), ("Referrer name", "Ines Varga"),
                         ("Email", "ines.varga@harbourside.example.org"), ("Date of referral", "3 March 2026")):
        cells = r.add_row().cells
        cells[0].text, cells[1].text = label, value
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def coded_referrals(mailserver, address):
    return [m for m in mailserver.fetch_all(address) if m["X-Mailbot-Kind"] == "coded-referral"]


def attachment(msg) -> bytes:
    (data,) = [p.get_content() for p in msg.iter_attachments()]
    return data


def hold_id(mailserver, coordinator) -> int:
    alerts = [m for m in mailserver.fetch_all(coordinator) if "held for your review" in str(m["Subject"])]
    assert alerts, "the coordinator was told of the hold"
    text = alerts[-1].get_body(("plain",)).get_content()
    assert "Bartholomew" not in text and "Zofia" not in text, "the alert names the place, never the word"
    assert re.search(r"paragraph \d+ of Section D", text), text
    return int(re.search(r"\(H(\d+)\)", str(alerts[-1]["Subject"])).group(1))


def test_a_held_referral_is_stripped_by_the_coordinator_and_then_sent(network, bot, mailserver):
    referrer = network.members[0][1]
    member = network.members[1][1]
    network.send_referral(referrer, form_with_a_stray_name())
    run_bot(bot)

    # held: nothing to the members, the referrer answered, the coordinator told where (not what)
    assert coded_referrals(mailserver, member) == []
    assert [m["X-Mailbot-Kind"] for m in mailserver.fetch_all(referrer)] == ["referral-held"]
    hid = hold_id(mailserver, network.coordinator)

    # the coordinator names the word; the decision waits for the confirmation from their own address
    send_command(network, f"STRIP H{hid} Bartholomew")
    run_bot(bot)
    assert coded_referrals(mailserver, member) == []
    requests = [m for m in mailserver.fetch_all(network.coordinator) if m["X-Mailbot-Kind"] == "command-confirm"]
    assert requests and "Bartholomew" not in requests[-1].get_body(("plain",)).get_content()
    reply_confirm(network, latest_token(mailserver, network.coordinator))
    run_bot(bot)

    (got,) = coded_referrals(mailserver, member)
    coded = attachment(got)
    assert find_leaks(coded, ["Zofia", "Wrzesniewska", "Bartholomew"]) == []
    text = " ".join(p.text for p in Document(io.BytesIO(coded)).paragraphs)
    assert "a friend, CN1, who is much older" in text
    assert "missed nine days of school" in text
    # a second decision on the same hold changes nothing
    send_command(network, f"RELEASE H{hid} sent already")
    run_bot(bot)
    reply_confirm(network, latest_token(mailserver, network.coordinator))
    run_bot(bot)
    assert len(coded_referrals(mailserver, member)) == 1


def test_a_held_referral_released_as_it_is_records_the_reason(network, bot, mailserver):
    referrer = network.members[0][1]
    member = network.members[1][1]
    network.send_referral(referrer, form_with_a_stray_name())
    run_bot(bot)
    hid = hold_id(mailserver, network.coordinator)
    send_command(network, f"RELEASE H{hid} Bartholomew is the name of the youth club")
    run_bot(bot)
    reply_confirm(network, latest_token(mailserver, network.coordinator))
    run_bot(bot)
    (got,) = coded_referrals(mailserver, member)
    assert find_leaks(attachment(got), ["Zofia", "Wrzesniewska"]) == []
    reasons = [r["reason"] for r in bot.store.audit_rows("CN1") if r["event"] == "decision"]
    assert any(f"H{hid} released" in r for r in reasons)
