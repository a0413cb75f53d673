"""Outgoing emails as bytes: what any mail client reads from them equals what the standard library's
EmailMessage would have made of the same message. All people and places are fictional."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import pytest

from mailbot.gate.mime import split_personal
from mailbot.mail.compose import (DOCX_TYPE, ICS_TYPE, ID_PLACEHOLDER, TO_PLACEHOLDER, XLSX_TYPE, Attachment, Rendered,
                             build_message, personalise)
from tests.conftest import SAMPLES

WHEN = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)
FORM = (SAMPLES / "S02-paragraphs.docx").read_bytes()
ICS = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Caf\xc3\xa9 meeting\r\n"
       b"END:VEVENT\r\nEND:VCALENDAR\r\n")
ICS_CANCEL = ICS.replace(b"METHOD:REQUEST", b"METHOD:CANCEL")

CASES = {
    "coded referral": dict(
        sender_name="Thornfield Network", rendered=Rendered("[CN12] Coded referral", "Hello,\n\nAttached.\n",
                                                            "<p>Hello,</p><p>Attached.</p>\n"),
        kind="coded-referral", case_code="CN12", attachments=[Attachment("CN12-coded-referral.docx", DOCX_TYPE, FORM)]),
    "accents, a long subject, a reply": dict(
        sender_name="Réseau Thornfield — coordination",
        rendered=Rendered("[CN3A, CN3B] Accusé de réception: la réunion de l'équipe aura lieu à Dún Laoghaire "
                          "le vendredi", "Merci Zoë!\n\n" + "Une ligne assez longue. " * 60 + "\n",
                          "<p>Merci Zoë!</p>\n"),
        kind="acknowledgement", case_code="CN3A", in_reply_to="<20261123.1@agency.example.org>"),
    "a plain long subject": dict(
        sender_name="Network", rendered=Rendered("A plain subject that is rather long, longer than seventy-eight "
                                                 "characters in all, truly", "Short.", "<p>Short.</p>"),
        kind="coordinator-notice"),
    "invitation, cancellation, Master List, a named file": dict(
        sender_name="Network", rendered=Rendered("[CN7] Meeting", "See the invitation.\n", "<p>See.</p>\n"),
        kind="meeting-notice", case_code="CN7",
        attachments=[Attachment("invite.ics", ICS_TYPE, ICS), Attachment("cancel.ics", ICS_TYPE, ICS_CANCEL),
                     Attachment("master-list.xlsx", XLSX_TYPE, b"\xd0\xcf\x11\xe0" + bytes(range(256)) * 40),
                     Attachment("procès-verbal réunion.docx", DOCX_TYPE, FORM)]),
}


def reference(*, sender, sender_name, to, rendered, msg_id, kind, case_code=None, attachments=(),
              in_reply_to=None, date=None) -> bytes:
    """The same message made by the standard library's EmailMessage (how mailbot used to build it)."""
    msg = EmailMessage()
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = ", ".join(to)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = msg_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Mailbot-Kind"] = kind
    if case_code:
        msg["X-Mailbot-Case"] = case_code
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    calendars = [a for a in attachments if a.content_type == "text/calendar"]
    if calendars:  # the first invitation is also a calendar alternative (Outlook's Accept/Decline)
        method = "CANCEL" if b"\r\nMETHOD:CANCEL\r\n" in calendars[0].data else "REQUEST"
        msg.get_body(("related", "html", "plain"))  # (the alternative exists now)
        msg.add_alternative(calendars[0].data.decode("utf-8"), subtype="calendar", params={"method": method})
    for att in attachments:
        maintype, _, subtype = att.content_type.partition("/")
        if att.content_type == "text/calendar":  # and attached as a file, application/ics
            method = "CANCEL" if b"\r\nMETHOD:CANCEL\r\n" in att.data else "REQUEST"
            msg.add_attachment(att.data, maintype="application", subtype="ics", filename=att.filename,
                               params={"method": method, "charset": "utf-8"})
        elif maintype == "text":
            method = "CANCEL" if b"\r\nMETHOD:CANCEL\r\n" in att.data else "REQUEST"
            msg.add_attachment(att.data.decode("utf-8"), subtype=subtype, filename=att.filename,
                               params={"method": method})
        else:
            msg.add_attachment(att.data, maintype=maintype, subtype=subtype, filename=att.filename)
    return msg.as_bytes()


def what_a_client_reads(raw: bytes) -> dict:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert not msg.defects and not any(p.defects for p in msg.walk())
    return {
        "headers": [(k, str(v)) for k, v in msg.items() if k.lower() not in ("content-type", "mime-version",
                                                                             "content-transfer-encoding")],
        "structure": [p.get_content_type() for p in msg.walk()],
        "text": msg.get_body(("plain",)).get_content(),
        "html": msg.get_body(("html",)).get_content(),
        "attachments": [(a.get_filename(), a.get_content_type(), a.get_param("method"), a.get_content_charset(),
                         a.get_content().replace("\r\n", "\n") if a.get_content_maintype() == "text"
                         else a.get_content()) for a in msg.iter_attachments()],
    }


@pytest.mark.parametrize("case", CASES)
def test_a_client_reads_exactly_what_the_standard_library_would_have_written(case):
    kw = dict(sender="coordinator@thornfield.example.net", to=["hub@youthhub.example.net"],
              msg_id="<coded-referral.abc@thornfield.example.net>", date=WHEN, **CASES[case])
    ours = build_message(**kw)
    assert what_a_client_reads(ours) == what_a_client_reads(reference(**kw))
    assert all(len(line) <= 998 for line in ours.split(b"\n"))
    assert ours.isascii()


def test_each_copy_gets_its_own_recipient_and_id_and_the_gate_reads_the_shared_part_once():
    shared = build_message(sender="c@net.example", sender_name="Network", to=[TO_PLACEHOLDER],
                           rendered=Rendered("[CN1] Coded referral", "Hello.\n", "<p>Hello.</p>"),
                           msg_id=ID_PLACEHOLDER, kind="coded-referral", case_code="CN1",
                           attachments=[Attachment("CN1-coded-referral.docx", DOCX_TYPE, FORM)], date=WHEN)
    copy = personalise(shared, to="school@school.example", msg_id="<coded-referral.1@net.example>")
    msg = email.message_from_bytes(copy, policy=email.policy.default)
    assert msg["To"] == "school@school.example" and msg["Message-ID"] == "<coded-referral.1@net.example>"
    assert split_personal(copy) is not None, "a plain header block: the copies share one reading"


@pytest.mark.parametrize("field, value", [("case_code", "CN1\nBcc: x@y"), ("case_code", "CN1\n Bcc"),
                                          ("sender_name", "Network\r\nBcc: x@y"), ("msg_id", "<a@b>\n x")])
def test_a_line_break_in_a_header_value_is_refused(field, value):
    kw = dict(sender="c@net.example", sender_name="Network", to=["a@b.example"], rendered=Rendered("x", "y", "z"),
              msg_id="<a@b>", kind="note", case_code="CN1")
    kw[field] = value
    with pytest.raises(ValueError):
        build_message(**kw)


def test_an_odd_in_reply_to_is_left_out_rather_than_written_badly():
    raw = build_message(sender="c@net.example", sender_name="Network", to=["a@b.example"],
                        rendered=Rendered("x", "y", "z"), msg_id="<a@b>", kind="note", in_reply_to="<réf@b>")
    assert b"In-Reply-To" not in raw
