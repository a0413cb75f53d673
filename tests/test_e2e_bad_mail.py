"""Bad mail through the real mailbox (Dovecot + SMTP relay): every bad input gets a plain answer
(or, for strangers, auto-replies and bounces, deliberately none), the original is kept, nothing
reaches the members, and the bot keeps working afterwards.

Every person, agency and address here is fictional.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections import Counter
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from conftest import SAMPLES, run_bot_until_idle
from test_bad_input import rebuild, sample_bytes

pytestmark = pytest.mark.mailserver

DOCX_TYPE = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")


# -- running the bot ------------------------------------------------------------------------

def kinds(mailserver, address) -> list[str]:
    return [m["X-Mailbot-Kind"] for m in mailserver.fetch_all(address)]


def body_of(msg) -> str:
    return msg.get_body(("plain",)).get_content()


# -- bad documents (built like tests/test_bad_input.py) -------------------------------------

def corrupt_docx() -> bytes:
    data = bytearray(sample_bytes())
    data[2000:6000] = bytes((i * 37 + 11) % 256 for i in range(4000))
    return bytes(data)


def legacy_doc() -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "WordDocument".encode("utf-16-le") + b"\x00" * 4000


def password_docx() -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile

    enc = io.BytesIO()
    OOXMLFile(io.BytesIO(sample_bytes())).encrypt("s3cret", enc)
    return enc.getvalue()


def macro_docm() -> bytes:
    data = sample_bytes()
    ct = zipfile.ZipFile(io.BytesIO(data)).read("[Content_Types].xml").replace(
        b"</Types>", b'<Override PartName="/word/vbaProject.bin" '
                     b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')
    return rebuild(data, replace={"[Content_Types].xml": ct}, add={"word/vbaProject.bin": b"\x00attribut VB"})


def xxe_docx() -> bytes:
    data = sample_bytes()
    part = "word/document.xml"
    body = zipfile.ZipFile(io.BytesIO(data)).read(part).decode().split("?>", 1)[1]
    root_tag = body.lstrip().split()[0].lstrip("<")
    evil = (f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE {root_tag} [<!ENTITY xxe SYSTEM '
            f'"file:///etc/hostname">]>' + body.replace("Multi-Agency Referral Form", "&xxe;", 1))
    return rebuild(data, replace={part: evil.encode()})


def zip_bomb() -> bytes:
    buf = io.BytesIO()
    src = zipfile.ZipFile(io.BytesIO(sample_bytes()))
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, src.read(info))
        with zf.open("word/media/bomb.xml", "w", force_zip64=True) as fh:
            zero = bytes(1024 * 1024)
            for _ in range(200):
                fh.write(zero)
    return buf.getvalue()


def not_a_referral() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Shopping list", 1)
    d.add_paragraph("Milk, bread, eggs")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def impossible_dob() -> bytes:
    data = sample_bytes("S02")
    doc = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")
    assert b"10 May 2012" in doc
    return rebuild(data, replace={"word/document.xml": doc.replace(b"10 May 2012", b"10 May 2099")})


#: (id, filename, builder, words expected in the plain reply (any of them))
BAD_DOCUMENTS = [
    ("corrupt", "form.docx", corrupt_docx, ("damaged", "not a Word document", "could not")),
    ("empty", "form.docx", lambda: b"", ("empty",)),
    ("pdf-named-docx", "form.docx", lambda: b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n",
     ("not a Word document", "could not find a Word document")),
    ("legacy-doc", "form.doc", legacy_doc, ("old-style Word file",)),
    ("password", "form.docx", password_docx, ("password",)),
    ("macro-docm", "form.docm", macro_docm, ("macros",)),
    ("xxe", "form.docx", xxe_docx, ("entity", "entities")),
    ("zip-bomb", "form.docx", zip_bomb, ("unreasonable size", "too large")),
    ("not-a-referral", "form.docx", not_a_referral, ("referral", "name")),
    ("no-name", "form.docx", lambda: (SAMPLES / "blank-referral-form.docx").read_bytes(), ("name",)),
    ("impossible-dob", "form.docx", impossible_dob, ("date of birth",)),
]

#: Names of the young people in the samples used to build bad documents: never in a reply.
SAMPLE_NAMES = ("Harvey", "Pemberton", "Isla", "Whitcombe")


def assert_members_got_nothing(network, mailserver, *, except_address: str | None = None) -> None:
    for address in network.all_member_addresses:
        if address != except_address:
            assert mailserver.count(address) == 0, address


def assert_still_works(network, bot, mailserver, *, expect_code: str = "CN1") -> None:
    """A good referral sent afterwards is coded and reaches the members."""
    sender = network.members[6][1]
    network.send_referral(sender, SAMPLES / "S01-table.docx")
    run_bot_until_idle(bot)
    coded = [m["Subject"] for m in mailserver.fetch_all(network.members[8][1]) if m["X-Mailbot-Kind"] == "coded-referral"]
    assert coded.count(f"[{expect_code}] Coded referral") == 1, coded


@pytest.mark.parametrize("case", BAD_DOCUMENTS, ids=[c[0] for c in BAD_DOCUMENTS])
def test_bad_document_gets_a_plain_reply_and_is_quarantined(network, bot, mailserver, case):
    _id, filename, build, words = case
    sender = network.members[3][1]
    raw = network.email_with(sender, "Referral", attachments=[(filename, build())])
    mailserver.deliver_to_inbox(network.mailbox, raw)
    run_bot_until_idle(bot)

    replies = mailserver.fetch_all(sender)
    assert [m["X-Mailbot-Kind"] for m in replies] == ["form-problem"]
    body = body_of(replies[0])
    assert any(w.lower() in body.lower() for w in words), body
    assert "Traceback" not in body and "Exception" not in body
    for name in SAMPLE_NAMES:
        assert name not in body and name not in replies[0]["Subject"]
    # the original is kept for a person to look at, and the coordinator is told
    assert mailserver.count(network.mailbox, "Quarantine") == 1
    assert mailserver.count(network.mailbox, "INBOX") == 0
    assert "coordinator-alert" in kinds(mailserver, network.coordinator)
    assert_members_got_nothing(network, mailserver, except_address=sender)
    assert bot.store.open_cases() == []
    assert_still_works(network, bot, mailserver)


# -- emails without a usable form ------------------------------------------------------------

def html_only(network, sender) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, network.mailbox, "Question about a young person"
    msg["Message-ID"] = make_msgid(domain="agency.test")
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    msg.set_content("<html><body><p>Hello, could you call me back about the network?</p></body></html>",
                    subtype="html")
    return msg.as_bytes()


def tnef_attr(level: int, attr: int, data: bytes) -> bytes:
    return struct.pack("<BII", level, attr, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def winmail_with(docx: bytes) -> bytes:
    long_name = "Referral form.docx".encode("utf-16-le") + b"\x00\x00"
    mapi = struct.pack("<I", 1) + struct.pack("<HH", 0x001F, 0x3707) + struct.pack("<II", 1, len(long_name))
    mapi += long_name + b"\x00" * ((4 - len(long_name) % 4) % 4)
    body = struct.pack("<IH", 0x223E9F78, 0x0001)
    body += tnef_attr(1, 0x00069007, b"\x01\x00\x00\x00")
    body += tnef_attr(2, 0x00069002, bytes(14))
    body += tnef_attr(2, 0x00018010, b"REFERR~1.DOC\x00")
    body += tnef_attr(2, 0x0006800F, docx)
    body += tnef_attr(2, 0x00069005, mapi)
    return body


def with_winmail(network, sender, blob: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, network.mailbox, "Referral"
    msg["Message-ID"] = make_msgid(domain="agency.test")
    msg.set_content("Please find attached.")
    msg.add_attachment(blob, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return msg.as_bytes()


#: (id, build(network, sender) -> raw, reply kind, words in the reply)
NO_FORM = [
    ("no-attachment", lambda n, s: n.email_with(s, "Referral", body="Referral to follow."), "no-form",
     ("did not find",)),
    ("html-only", html_only, "no-form", ("did not find",)),
    ("unreadable-winmail", lambda n, s: with_winmail(n, s, b"\x78\x9f\x3e\x22garbage"), "form-problem",
     ("winmail.dat",)),
    ("pdf-attachment", lambda n, s: n.email_with(s, "Referral", attachments=[("form.pdf", b"%PDF-1.4\n%%EOF")]),
     "form-problem", ("Word document (.docx)",)),
    ("40-MB", lambda n, s: n.email_with(s, "Referral", attachments=[("form.docx", os.urandom(30 * 1024 * 1024))]),
     "form-problem", ("larger than",)),
]


@pytest.mark.parametrize("case", NO_FORM, ids=[c[0] for c in NO_FORM])
def test_email_without_a_usable_form_gets_a_plain_reply(network, bot, mailserver, case):
    _id, build, reply_kind, words = case
    sender = network.members[2][1]
    mailserver.deliver_to_inbox(network.mailbox, build(network, sender))
    run_bot_until_idle(bot)

    replies = mailserver.fetch_all(sender)
    assert [m["X-Mailbot-Kind"] for m in replies] == [reply_kind]
    body = body_of(replies[0])
    assert any(w in body for w in words), body
    assert "Traceback" not in body
    assert mailserver.count(network.mailbox, "Quarantine") == 1
    assert mailserver.count(network.mailbox, "INBOX") == 0
    assert "coordinator-alert" in kinds(mailserver, network.coordinator)
    assert_members_got_nothing(network, mailserver, except_address=sender)
    assert_still_works(network, bot, mailserver)


# -- mail that is never answered ---------------------------------------------------------------

def auto_reply(network, sender, our_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, network.mailbox, "Automatic reply: [CN1] Coded referral"
    msg["Message-ID"] = make_msgid(domain="agency.test")
    msg["In-Reply-To"] = our_id
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("I am out of the office until Monday.")
    return msg.as_bytes()


def bounce(network, sender, our_id: str) -> bytes:
    """A DSN (multipart/report) from the member's mail server about one of our messages."""
    domain = sender.split("@")[1]
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@{domain}>\r\n"
        f"To: {network.mailbox}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn.{network.suffix}@{domain}>\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        f"--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.{domain}\r\n\r\nFinal-Recipient: rfc822; {sender}\r\n"
        f"Action: failed\r\nStatus: 5.2.2\r\n"
        f"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {our_id}\r\nFrom: {network.mailbox}\r\nSubject: [CN1] Coded referral\r\n"
        f"--b1--\r\n"
    ).encode()


def stranger_referral(network, _sender) -> bytes:
    return network.email_with(network.stranger, "Referral",
                              attachments=[("form.docx", (SAMPLES / "S01-table.docx").read_bytes())])


def dmarc_fail(network, sender) -> bytes:
    """A member's address forged from another server (delivered with sending_domain=attacker.test: the
    test MX writes spf=fail, dmarc=fail); the forger's own "pass" headers are removed or not trusted."""
    raw = network.email_with(sender, "Referral", attachments=[("form.docx", (SAMPLES / "S01-table.docx").read_bytes())])
    domain = sender.split('@')[1]
    return (f"Authentication-Results: {network.server.authserv_id}; dmarc=pass header.from={domain}\r\n"
            f"Authentication-Results: mx.network.test; dmarc=pass header.from={domain}; "
            f"spf=pass smtp.mailfrom={sender}\r\n").encode() + raw


#: (id, build(network, sender, our_message_id) -> raw, folder it is kept in, coordinator told now?)
UNANSWERED = [
    ("auto-reply", auto_reply, "Processed", False),
    ("bounce", bounce, "Processed", False),
    ("stranger", lambda n, s, _mid: stranger_referral(n, s), "Quarantine", False),
    ("dmarc-fail", lambda n, s, _mid: dmarc_fail(n, s), "Quarantine", False),
]


@pytest.mark.parametrize("case", UNANSWERED, ids=[c[0] for c in UNANSWERED])
def test_mail_that_is_never_answered(network, bot, mailserver, case):
    _id, build, folder, coordinator_told = case
    network.stranger = mailserver.add_user(f"someone.{network.suffix}@elsewhere.test")
    sender = network.members[4][1]
    # one of our own messages, already delivered to the member: the auto-reply/bounce refers to it
    network.send_referral(network.members[0][1], SAMPLES / "S02-paragraphs.docx")
    run_bot_until_idle(bot)
    ours = mailserver.fetch_all(sender)
    assert ours, "the member received our coded referral"
    before = {a: mailserver.count(a) for a in network.all_member_addresses + [network.coordinator, network.stranger]}
    outbox_before = len(bot.store.outbox_items())

    forged = {"sending_domain": "attacker.test"} if _id == "dmarc-fail" else {}
    mailserver.deliver_to_inbox(network.mailbox, build(network, sender, ours[0]["Message-ID"]), **forged)
    run_bot_until_idle(bot)

    # no reply at all (no mail loop, nothing disclosed to a stranger), nothing queued
    after = {a: mailserver.count(a) for a in before}
    if coordinator_told:
        assert after.pop(network.coordinator) > before.pop(network.coordinator)
    assert after == before
    assert len(bot.store.outbox_items()) == outbox_before
    assert mailserver.count(network.mailbox, folder) >= 1
    assert mailserver.count(network.mailbox, "INBOX") == 0
    rows = bot.store.messages_after(0)
    assert len(rows) == 2 and rows[-1]["outcome"] in ("ignored", "quarantined")
    assert [c.code for c in bot.store.open_cases()] == ["CN1"], "the refused form was not coded"
    assert_still_works(network, bot, mailserver, expect_code="CN2")


# -- emails with forms in unusual wrappers ---------------------------------------------------------

def test_two_forms_in_one_email_get_two_codes_and_two_acknowledgements(network, bot, mailserver):
    sender = network.members[1][1]
    raw = network.email_with(sender, "Two referrals", attachments=[
        ("first.docx", (SAMPLES / "S01-table.docx").read_bytes()),
        ("second.docx", (SAMPLES / "S02-paragraphs.docx").read_bytes())])
    mailserver.deliver_to_inbox(network.mailbox, raw)
    run_bot_until_idle(bot)

    acks = sorted(m["Subject"] for m in mailserver.fetch_all(sender) if m["X-Mailbot-Kind"] == "acknowledgement")
    assert acks == ["[CN1] Referral received", "[CN2] Referral received"]
    member = Counter(kinds(mailserver, network.members[7][1]))
    assert member == {"coded-referral": 2, "master-list": 1}
    assert sorted(c.code for c in bot.store.open_cases()) == ["CN1", "CN2"]
    assert mailserver.count(network.mailbox, "Processed") == 1


def forwarded_eml(network, sender) -> bytes:
    inner = EmailMessage()
    inner["From"], inner["To"], inner["Subject"] = "colleague@agency.test", sender, "Referral"
    inner["Message-ID"] = make_msgid(domain="agency.test")
    inner.set_content("Form attached.")
    inner.add_attachment((SAMPLES / "S01-table.docx").read_bytes(), maintype=DOCX_TYPE[0], subtype=DOCX_TYPE[1],
                         filename="referral.docx")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = sender, network.mailbox, "Fwd: Referral"
    outer["Message-ID"] = make_msgid(domain="agency.test")
    outer.set_content("Forwarding the referral below.")
    outer.add_attachment(inner)  # message/rfc822
    return outer.as_bytes()


@pytest.mark.parametrize("wrapper", ["forwarded-eml", "winmail-dat"])
def test_form_inside_a_forward_or_winmail_is_coded(network, bot, mailserver, wrapper):
    sender = network.members[5][1]
    if wrapper == "forwarded-eml":
        raw = forwarded_eml(network, sender)
    else:
        raw = with_winmail(network, sender, winmail_with((SAMPLES / "S01-table.docx").read_bytes()))
    mailserver.deliver_to_inbox(network.mailbox, raw)
    run_bot_until_idle(bot)

    acks = [m for m in mailserver.fetch_all(sender) if m["X-Mailbot-Kind"] == "acknowledgement"]
    assert [m["Subject"] for m in acks] == ["[CN1] Referral received"]
    coded = [m for m in mailserver.fetch_all(network.members[0][1]) if m["X-Mailbot-Kind"] == "coded-referral"]
    assert len(coded) == 1
    (att,) = list(coded[0].iter_attachments())
    with zipfile.ZipFile(io.BytesIO(att.get_content())) as zf:
        text = zf.read("word/document.xml").decode()
    assert "Pemberton" not in text and "Harvey" not in text and "CN1" in text
    case = bot.store.get_case("CN1")
    assert case.lead_agency == network.members[5][0], "the forwarding member is the lead agency"
    assert mailserver.count(network.mailbox, "Processed") == 1
