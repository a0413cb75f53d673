"""Reading incoming mail: attachments wherever they hide, automatic mail, bad input. Fictional people only."""

from __future__ import annotations

import struct
from email.message import EmailMessage

import pytest

from mailbot.mail.auth_results import authentication_results
from mailbot.mail.html_text import html_to_text
from mailbot.mail.reading import WINMAIL_PROBLEM, Attachment, kind_of_attachment, read_email
from mailbot.mail.tnef import read_tnef
from tests.conftest import SAMPLES

DOCX_BYTES = (SAMPLES / "blank-referral-form.docx").read_bytes()
DOCX = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")


def base(subject="Referral", sender="Marcus Okonjo <Marcus.Okonjo@MVYouthHub.example.net>", mid="<ref-1@mvyouthhub.example.net>"):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "coordinator@network.example.org"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 23 Nov 2026 09:15:00 +0000"
    if mid:
        msg["Message-ID"] = mid
    return msg


def with_form(msg: EmailMessage, filename="referral.docx") -> EmailMessage:
    msg.set_content("Please find the referral form attached.")
    msg.add_attachment(DOCX_BYTES, maintype=DOCX[0], subtype=DOCX[1], filename=filename)
    return msg


def test_plain_referral_email():
    mail = read_email(bytes(with_form(base())))
    assert mail.from_address == "marcus.okonjo@mvyouthhub.example.net"
    assert mail.from_display == "Marcus Okonjo"
    assert mail.message_id == "ref-1@mvyouthhub.example.net"
    assert mail.date is not None and mail.date.year == 2026
    assert mail.text_body.strip() == "Please find the referral form attached."
    assert not mail.auto_submitted and not mail.is_bounce and not mail.too_large
    [att] = mail.attachments
    assert (att.filename, att.source, att.data) == ("referral.docx", "direct", DOCX_BYTES)
    assert kind_of_attachment(att) == "docx"


def test_dedup_key_stable_and_distinct():
    raw = bytes(with_form(base()))
    assert read_email(raw).key == read_email(raw).key
    other = bytes(with_form(base(mid="<ref-2@mvyouthhub.example.net>")))
    assert read_email(other).key != read_email(raw).key
    # without a Message-ID the raw bytes decide
    a = read_email(bytes(with_form(base(mid=None))))
    b = read_email(bytes(with_form(base(mid=None, subject="Referral (2)"))))
    assert a.message_id == "" and a.key != b.key


def test_forwarded_message_with_form_inside():
    inner = with_form(base(subject="Referral for CN?"), filename="form-from-school.docx")
    outer = base(subject="FW: Referral", sender="coordinator.deputy@network.example.org")
    outer.set_content("Forwarding the school's referral.")
    outer.add_attachment(inner)  # message/rfc822
    mail = read_email(bytes(outer))
    [att] = mail.attachments
    assert att.filename == "form-from-school.docx" and att.source == "forwarded"
    assert att.data == DOCX_BYTES
    assert mail.text_body.startswith("Forwarding")


def test_attached_eml_file_with_form_inside():
    inner = with_form(base(subject="Original"), filename="inner-form.docx")
    outer = base(subject="FW: as attachment")
    outer.set_content("See attached email.")
    outer.add_attachment(bytes(inner), maintype="application", subtype="octet-stream", filename="Original.eml")
    mail = read_email(bytes(outer))
    assert [(a.filename, a.source) for a in mail.attachments] == [("inner-form.docx", "forwarded")]
    assert mail.attachments[0].data == DOCX_BYTES


def test_html_only_body_gives_text():
    msg = base()
    msg.set_content("<html><head><style>p{color:red}</style><script>alert('x')</script></head>"
                    "<body><p>Referral for case&nbsp;attached.</p><p>Thanks,<br>Marcus</p>"
                    "<img src='http://tracker.example/x.png'></body></html>", subtype="html")
    mail = read_email(bytes(msg))
    assert "Referral for case attached." in mail.text_body
    assert "Thanks,\nMarcus" in mail.text_body
    assert "alert" not in mail.text_body and "color" not in mail.text_body
    assert html_to_text("<p>a</p><p>b</p>") == "a\n\nb"


# issue 11.7: only the visible text of an HTML body is read (commands, notice fields)
HIDDEN_HTML = [
    ("display-none", '<div style="display:none">EXIT CN78</div>'),
    ("display-none-important", '<div style="DISPLAY: NONE !important">EXIT CN78</div>'),
    ("visibility-hidden", '<p style="visibility:hidden">EXIT CN78</p>'),
    ("font-size-zero", '<span style="font-size:0">EXIT CN78</span>'),
    ("font-size-0px", '<span style="font-size: 0px">EXIT CN78</span>'),
    ("white-on-white", '<p style="color:#ffffff">EXIT CN78</p>'),
    ("white-on-white-named", '<font color="white">EXIT CN78</font>'),
    ("white-on-white-rgb", '<p style="color: rgb(255, 255, 255)">EXIT CN78</p>'),
    ("same-as-background", '<div style="background-color:#003366"><p style="color:#036">EXIT CN78</p></div>'),
    ("transparent", '<p style="color:transparent">EXIT CN78</p>'),
    ("opacity-zero", '<p style="opacity:0">EXIT CN78</p>'),
    ("hidden-attribute", "<p hidden>EXIT CN78</p>"),
    ("off-screen", '<p style="position:absolute;left:-9999px">EXIT CN78</p>'),
    ("zero-height", '<div style="max-height:0;overflow:hidden">EXIT CN78</div>'),
    ("comment", "<!-- EXIT CN78 -->"),
    ("conditional-comment", "<!--[if mso]>EXIT CN78<![endif]-->"),
    ("script", "<script>var c = 'EXIT CN78';</script>"),
    ("style", "<style>/* EXIT CN78 */ p { color: black }</style>"),
    ("title", "<title>EXIT CN78</title>"),
    ("head", "<head><meta name='x' content='EXIT CN78'><title>t</title></head>"),
    ("stylesheet-class", "<style>.x { display: none }</style><p class='x'>EXIT CN78</p>"),
    ("stylesheet-id", "<style>#later{visibility:hidden}</style><p id='later'>EXIT CN78</p>"),
    ("stylesheet-media", "<style>@media screen { div.x { display:none } }</style><div class='x'>EXIT CN78</div>"),
    ("stylesheet-unreadable-selector", "<style>p:nth-last-of-type(n+1)::after{display:none}</style><p>EXIT CN78</p>"),
    ("inherited", '<div style="visibility:hidden"><p><b>EXIT CN78</b></p></div>'),
]


@pytest.mark.parametrize("html", [h for _i, h in HIDDEN_HTML], ids=[i for i, _h in HIDDEN_HTML])
def test_html_hidden_text_is_not_read(html):
    msg = base(subject="commands")
    msg.set_content(f"<html><body>{html}<p>HELP</p></body></html>", subtype="html")
    text = read_email(bytes(msg)).text_body
    assert "CN78" not in text
    if "unreadable" not in html and "nth-last" not in html:
        assert "HELP" in text


def test_html_visible_text_is_read_and_a_child_may_undo_its_parent():
    html = ('<div style="visibility:hidden">hidden <span style="visibility:visible">Date: 15/02/2027</span></div>'
            '<div style="font-size:0">x<span style="font-size:14px">Time: 15:30</span></div>'
            '<div style="background:#000000"><p style="color:#ffffff">Venue: Main Street</p></div>'
            "<table><tr><td>Case:</td><td>CN78</td></tr></table>")
    text = html_to_text(html)
    for visible in ("Date: 15/02/2027", "Time: 15:30", "Venue: Main Street", "Case: CN78"):
        assert visible in text
    assert "hidden" not in text


def test_hidden_notice_fields_in_html_are_not_read():
    html = ("<p>Meeting notice CN78</p><p>Case: CN78</p><p>Date: 15/02/2027</p><p>Time: 15:30</p>"
            "<p>Venue: Family Resource Centre</p>"
            '<p style="display:none">Venue: somewhere else entirely</p>'
            "<p>Organiser: Sam Lead, 087 765 4321, sam.lead@youth.example</p>")
    msg = base(subject="Meeting notice CN78")
    msg.set_content(html, subtype="html")
    text = read_email(bytes(msg)).text_body
    assert "somewhere else" not in text
    assert "Venue: Family Resource Centre" in text


@pytest.mark.parametrize("header,value", [
    ("Auto-Submitted", "auto-replied"),
    ("Auto-Submitted", "auto-generated; owner-email=x@example.net"),
    ("X-Autoreply", "yes"),
    ("X-Autorespond", "yes"),
    ("Precedence", "bulk"),
    ("Precedence", "auto_reply"),
    ("Return-Path", "<>"),
    ("Subject", "Automatic reply: Referral"),
    ("Subject", "Out of Office: back Monday"),
])
def test_auto_replies_recognised(header, value):
    msg = base(subject="Re: Referral")
    if header == "Subject":
        msg.replace_header("Subject", value)
    else:
        msg[header] = value
    msg.set_content("I am away.")
    mail = read_email(bytes(msg))
    assert mail.auto_submitted and not mail.is_bounce


def test_ordinary_mail_is_not_auto():
    msg = base(subject="Re: Office move next week")
    msg["Auto-Submitted"] = "no"
    msg.set_content("Hello")
    assert not read_email(bytes(msg)).auto_submitted


DSN = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.network.example.org>\r\n"
    b"To: coordinator@network.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <dsn-1@mx.network.example.org>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
    b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
    b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.network.example.org\r\n\r\n"
    b"Final-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: CN78 notice\r\n--B--\r\n"
)


def test_dsn_bounce_recognised():
    mail = read_email(DSN)
    assert mail.is_bounce and mail.auto_submitted
    assert "could not be delivered" in mail.text_body
    assert all(kind_of_attachment(a) == "other" for a in mail.attachments)
    # a DSN from an ordinary-looking sender is still a bounce
    mail = read_email(DSN.replace(b"MAILER-DAEMON@", b"notices@"))
    assert mail.is_bounce and mail.auto_submitted


def test_oversized_flagged_and_not_parsed():
    raw = bytes(with_form(base()))
    mail = read_email(raw, max_bytes=1024)
    assert mail.too_large and mail.attachments == []
    assert mail.from_address == "marcus.okonjo@mvyouthhub.example.net"
    assert mail.problems and "too large" in mail.problems[0]


@pytest.mark.parametrize("raw", [
    b"",
    b"\x00\xff\xfe garbage \x80\x81",
    b"From: <<<@@>>>\r\nDate: yesterday-ish\r\nMessage-ID: not an id\r\nSubject: =?bogus?Q?x?=\r\n\r\nbody",
    b"From: =?utf-8?B?!!!notbase64?= <a@b.example>\r\nTo: ,,,;;;\r\nContent-Type: multipart/mixed\r\n\r\nno boundary",
    b"From: x@y.example\r\nContent-Type: text/plain; charset=klingon-8\r\n\r\n\xe9\xe9",
    b"From: x@y.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream; name=a.docx\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!!not base64@@@\r\n--b--",
    b"Subject: " + b"A" * 20000 + b"\r\nFrom: x@y.example\r\n\r\n",
])
def test_malformed_input_never_raises(raw):
    mail = read_email(raw)
    assert isinstance(mail.key, str) and len(mail.key) == 64
    assert isinstance(mail.attachments, list)


# -- winmail.dat ------------------------------------------------------------

def tnef_attr(level: int, attr: int, data: bytes) -> bytes:
    return struct.pack("<BII", level, attr, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def tnef_blob() -> bytes:
    # one attachment: attAttachRendData, attAttachTitle (8.3 name), attAttachData,
    # attAttachment with the MAPI long file name (PT_UNICODE PR_ATTACH_LONG_FILENAME)
    long_name = "Referral form Marsden.docx".encode("utf-16-le") + b"\x00\x00"
    mapi = struct.pack("<I", 1) + struct.pack("<HH", 0x001F, 0x3707) + struct.pack("<II", 1, len(long_name))
    mapi += long_name + b"\x00" * ((4 - len(long_name) % 4) % 4)
    body = struct.pack("<IH", 0x223E9F78, 0x0001)
    body += tnef_attr(1, 0x00069007, b"\x01\x00\x00\x00")  # attTnefVersion-ish message attribute
    body += tnef_attr(2, 0x00069002, bytes(14))  # attAttachRendData
    body += tnef_attr(2, 0x00018010, b"REFERR~1.DOC\x00")  # attAttachTitle
    body += tnef_attr(2, 0x0006800F, DOCX_BYTES)  # attAttachData
    body += tnef_attr(2, 0x00069005, mapi)  # attAttachment
    body += tnef_attr(2, 0x00069002, bytes(14))
    body += tnef_attr(2, 0x00018010, b"notes.txt\x00")
    body += tnef_attr(2, 0x0006800F, b"plain notes")
    return body


def test_tnef_reader():
    files = read_tnef(tnef_blob())
    assert files == [("Referral form Marsden.docx", DOCX_BYTES), ("notes.txt", b"plain notes")]
    assert read_tnef(b"not tnef at all") is None


def test_winmail_dat_attachments_found():
    msg = base()
    msg.set_content("Referral attached")
    msg.add_attachment(tnef_blob(), maintype="application", subtype="ms-tnef", filename="winmail.dat")
    mail = read_email(bytes(msg))
    assert [(a.filename, a.source) for a in mail.attachments] == [
        ("Referral form Marsden.docx", "winmail"), ("notes.txt", "winmail")]
    assert kind_of_attachment(mail.attachments[0]) == "docx"
    assert mail.problems == []


def test_unreadable_winmail_dat_is_a_plain_problem():
    msg = base()
    msg.set_content("Referral attached")
    msg.add_attachment(b"\x78\x9f\x3e\x22garbage", maintype="application", subtype="ms-tnef", filename="winmail.dat")
    mail = read_email(bytes(msg))
    assert mail.attachments == []
    assert mail.problems == [WINMAIL_PROBLEM]


# -- Authentication-Results ----------------------------------------------------

def test_authentication_results_parsed():
    msg = base()
    msg["Authentication-Results"] = (
        "mx.network.example.org; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=bounce@mvyouthhub.example.net; "
        "dkim=fail (bad signature) header.d=mvyouthhub.example.net header.s=sel1; "
        "dmarc=fail (p=reject) header.from=MVYouthHub.example.net")
    msg["Authentication-Results"] = "other.example; none"
    msg.set_content("x")
    results = read_email(bytes(msg)).auth_results
    got = [(r.authserv_id, r.method, r.result, r.domain, r.index) for r in results]
    assert got == [
        ("mx.network.example.org", "spf", "pass", "mvyouthhub.example.net", 0),
        ("mx.network.example.org", "dkim", "fail", "mvyouthhub.example.net", 0),
        ("mx.network.example.org", "dmarc", "fail", "mvyouthhub.example.net", 0),
    ]
    assert authentication_results(bytes(msg)) == results


def test_kind_of_attachment():
    assert kind_of_attachment(Attachment("x.docx", "", DOCX_BYTES)) == "docx"
    assert kind_of_attachment(Attachment("renamed.bin", "", DOCX_BYTES)) == "docx"
    assert kind_of_attachment(Attachment("x.pdf", "", b"%PDF-1.4 ...")) == "pdf"
    assert kind_of_attachment(Attachment("x.docx", "", b"%PDF-1.4 ...")) == "pdf"
    assert kind_of_attachment(Attachment("x.doc", "", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))) == "doc"
    assert kind_of_attachment(Attachment("x.docm", "", DOCX_BYTES)) == "docm"
    assert kind_of_attachment(Attachment("a.eml", "", b"From: x")) == "eml"
    assert kind_of_attachment(Attachment("photo.jpg", "image/jpeg", b"\xff\xd8\xff")) == "other"


# -- never raises on damaged input (property) -------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SEED_MAIL = bytes(with_form(base()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_SEED_MAIL) - 1), st.binary(min_size=0, max_size=8)), max_size=12),
       st.integers(0, len(_SEED_MAIL)))
def test_damaged_mail_never_raises(edits, cut):
    raw = bytearray(_SEED_MAIL[:cut] if cut > 200 else _SEED_MAIL)
    for pos, junk in edits:
        pos = min(pos, len(raw))
        raw[pos:pos + len(junk)] = junk
    mail = read_email(bytes(raw))
    assert isinstance(mail.attachments, list) and len(mail.key) == 64
    assert all(isinstance(a.data, bytes) for a in mail.attachments)


@pytest.mark.parametrize("from_lines", [
    b"From: marcus.okonjo@mvyouthhub.example.net\r\nFrom: someone@evil.example\r\n",
    b"From: marcus.okonjo@mvyouthhub.example.net, someone@evil.example\r\n",
])
def test_ambiguous_sender_is_nobody(from_lines):
    mail = read_email(from_lines + b"Subject: Referral\r\nMessage-ID: <x@y>\r\n\r\nhello\r\n")
    assert mail.from_address == ""
    assert any("From" in d for d in mail.defects)
