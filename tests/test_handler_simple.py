"""The small handlers in the middle layer: auto, refused, too_large, other, flood (handlers/*.py).

Each test hands one email to the pipeline against a temporary store and asserts the folder, the record
and what the outbox holds (who is answered, who is told). No mail server.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from desk import text_of


def plain(sender: str, subject: str, body: str, **headers) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "coordinator@network.test", subject
    msg["Message-ID"] = make_msgid(domain="agency.test")
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content(body)
    return msg.as_bytes()


def test_auto_reply_is_recorded_and_never_answered(desk):
    raw = plain(desk.lead, "Out of office", "I am away.", Auto_Submitted="auto-replied")
    assert desk.handle(raw) == "processed"
    assert desk.last_message()["outcome"] == "ignored"
    assert not desk.store.outbox_items()


def test_a_stranger_is_quarantined_without_a_reply(desk):
    raw = plain("someone@elsewhere.test", "Hello", "EXIT CN1")
    assert desk.handle(raw) == "quarantined"
    assert desk.last_message()["kind"] == "refused"
    assert not desk.kinds_to("someone@elsewhere.test")


def test_too_large_is_answered_and_told(desk):
    desk.ctx.cfg.max_email_bytes = 2000
    raw = desk.email(desk.lead, "Referral", attachments=[("big.docx", b"PK\x03\x04" + b"x" * 5000)])
    assert desk.handle(raw) == "quarantined"
    (reply,) = desk.outgoing("form-problem", to=desk.lead)
    assert "larger than" in text_of(reply)
    assert desk.outgoing("coordinator-alert", to=desk.coordinator)


def test_nothing_to_process_is_answered_with_the_no_form_text(desk):
    assert desk.handle(plain(desk.lead, "Hello", "Just checking in.")) == "quarantined"
    assert desk.outgoing("no-form", to=desk.lead)
    assert desk.last_message()["reason"] == "nothing-to-process"


def test_a_confirmation_code_from_a_member_is_refused_and_changes_nothing(desk):
    raw = plain(desk.lead, "Re: please confirm", "CONFIRM 0123456789abcdef0123456789abcdef")
    assert desk.handle(raw) == "quarantined"
    (reply,) = desk.outgoing("form-problem", to=desk.lead)
    assert "Only the network coordinator" in text_of(reply)
    assert desk.last_message()["reason"] == "confirmation-not-from-coordinator"


def test_a_flood_from_one_sender_is_filed_with_one_reply_per_window(desk):
    desk.ctx.cfg.rate_limit_emails = 3
    for i in range(6):
        desk.handle(plain(desk.lead, f"Hello {i}", "Just checking in."), uid=i + 1)
    assert len(desk.outgoing("rate-limited", to=desk.lead)) == 1
    assert len(desk.outgoing("no-form", to=desk.lead)) == 3
