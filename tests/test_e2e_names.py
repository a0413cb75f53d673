"""End to end on the real Dovecot: the name in every form reaches no one (issue 10, "Done means").

A referral whose email subject, body and attachment file name carry the young person's name, and
whose form (the public twins P03 and P06) carries it as e-mail handles, profile links, a relative
named only in the prose and a maiden name. After the bot has run, every message in every mailbox
(members, Social Work, the referrer, the coordinator) is read whole: headers, every text part,
every attachment's name and, for Word files, every part, by the independent oracle
(tests/leakcheck.py). Fictional people only.
"""

from __future__ import annotations

import email.policy
import io
import json

import pytest

from conftest import SAMPLES, run_bot_until_idle
from leakcheck import document_views, find_leaks, joined_forms, normalise

pytestmark = pytest.mark.mailserver


def message_texts(msg) -> list[str]:
    """Everything a person could read in a message, normalised."""
    out = [normalise(f"{k}: {v}") for k, v in msg.items()]
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = part.get_filename() or ""
        out.append(normalise(name))
        data = part.get_payload(decode=True) or b""
        if name.endswith((".docx", ".xlsx")) and data[:2] == b"PK":
            out.extend(text for _p, text in document_views(data))
        else:
            out.append(normalise(data.decode("utf-8", "replace")))
    return out


@pytest.mark.parametrize("sample", ["P03-email-handles", "P06-unlisted-sibling-nee"])
def test_the_name_in_the_subject_body_file_name_and_form_reaches_no_one(network, bot, mailserver, sample):
    truth = json.loads((SAMPLES / f"{sample}.truth.json").read_text(encoding="utf-8"))
    child = truth["young_people"][0]
    referrer = network.members[0][1]
    raw = network.email_with(
        referrer, f"Referral for {child['name']} (known as {child['known_as'][0] if child['known_as'] else child['first']})",
        body=(f"Dear coordinator,\n\nPlease find attached our referral for {child['name']}, "
              f"born {child['dob']}. {child['first']}'s mother has agreed.\n"),
        attachments=[(f"{child['name']} referral.docx", (SAMPLES / f"{sample}.docx").read_bytes())])
    network.server.deliver_to_inbox(network.mailbox, raw, mail_from=referrer)
    run_bot_until_idle(bot)

    assert [c.code for c in bot.store.open_cases()] == ["CN1"]
    tokens = [t for t in truth["protected_tokens"] if t not in truth.get("ordinary_word_tokens", [])]
    joined = joined_forms(truth["young_people"] + truth["family"])
    everyone = network.all_member_addresses + [network.coordinator]
    seen = 0
    for address in everyone:
        for msg in mailserver.fetch_all(address):
            seen += 1
            kind = msg["X-Mailbot-Kind"]
            if kind == "master-list":
                continue  # the one document with names: an encrypted workbook, opaque here
            for part in msg.walk():
                data = part.get_payload(decode=True) or b""
                if (part.get_filename() or "").endswith(".docx"):
                    assert find_leaks(data, tokens, filename=part.get_filename(), joined=joined) == [], (address, kind)
            text = "\n".join(message_texts(msg)).casefold()
            for token in tokens:
                assert normalise(token).casefold() not in text, (address, kind, "a protected name")
    assert seen >= len(network.member_addresses) + 2
    # the Coded Referral really went out, with its concerns
    coded = [m for m in mailserver.fetch_all(network.members[1][1]) if m["X-Mailbot-Kind"] == "coded-referral"]
    assert len(coded) == 1
    (name,) = [p.get_filename() for p in coded[0].iter_attachments()]
    assert name == "CN1-coded-referral.docx"
