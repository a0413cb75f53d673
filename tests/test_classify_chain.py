"""The classification chain (mailbot.classify.CHAIN): each rule's predicate on its own, and the order.

Pure: emails are IncomingEmail values and verdicts Verdict values built here; no store, no server.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from mailbot import classify as K
from mailbot.context import Kind
from mailbot.mail.reading import Attachment, IncomingEmail
from mailbot.mail.senders import Member, Verdict

FORM = (Path(__file__).parent / "fixtures" / "samples" / "S01-table.docx").read_bytes()
NOTICE_BODY = "Case: CN12\nDate: 14/01/2027\nTime: 10:00\nVenue: Kilbrannagh Family Centre\n"


def mail(*, subject: str = "Hello", body: str = "Just checking in.", attachments=(), too_large: bool = False):
    return IncomingEmail(message_id="<m1@agency.test>", key="k1", from_address="worker@agency.test",
                         from_display="", subject=subject, date=None, in_reply_to="", references=[],
                         auto_submitted=False, is_bounce=False, text_body=body, attachments=list(attachments),
                         too_large=too_large)


def word(data: bytes = FORM, name: str = "referral.docx") -> Attachment:
    return Attachment(name, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", data)


MEMBER = Member(agency="Kilbrannagh Youth Service", emails=["worker@agency.test"])
AS_MEMBER = Verdict(allowed=True, role="member", member=MEMBER, reason="")
AS_COORDINATOR = Verdict(allowed=True, role="coordinator", member=None, reason="")
STRANGER = Verdict(allowed=False, role="stranger", member=None, reason="not in the directory")
AUTO = Verdict(allowed=False, role="auto", member=None, reason="auto-submitted")
NO_SUBMIT = Verdict(allowed=True, role="member",
                    member=dataclasses.replace(MEMBER, may_submit=False), reason="")


# -- each predicate on its own ---------------------------------------------------------------------------

def test_is_automatic_only_for_auto_and_our_own_mail():
    assert K.is_automatic(mail(), AUTO)
    assert K.is_automatic(mail(), dataclasses.replace(AUTO, role="ourselves"))
    assert not K.is_automatic(mail(), AS_MEMBER)
    assert not K.is_automatic(mail(), STRANGER)


def test_is_not_allowed():
    assert K.is_not_allowed(mail(), STRANGER)
    assert not K.is_not_allowed(mail(), AS_MEMBER)


def test_is_too_large():
    assert K.is_too_large(mail(too_large=True), AS_MEMBER)
    assert not K.is_too_large(mail(), AS_MEMBER)


def test_is_coordinator():
    assert K.is_coordinator(mail(), AS_COORDINATOR)
    assert not K.is_coordinator(mail(), AS_MEMBER)


def test_has_word_document_by_content_not_only_name():
    assert K.has_word_document(mail(attachments=[word()]), AS_MEMBER)
    assert K.has_word_document(mail(attachments=[word(name="scan")]), AS_MEMBER)  # by its bytes
    assert not K.has_word_document(mail(attachments=[Attachment("a.pdf", "application/pdf", b"%PDF-1.4 x")]),
                                   AS_MEMBER)
    assert not K.has_word_document(mail(), AS_MEMBER)


def test_is_confirmation():
    assert K.is_confirmation(mail(subject="Re: CONFIRM abcdefabcdefabcdefabcd"), AS_COORDINATOR) \
        or K.is_confirmation(mail(body="CONFIRM"), AS_COORDINATOR)
    assert K.is_confirmation(mail(body="CONFIRM"), AS_COORDINATOR)
    assert not K.is_confirmation(mail(body="STATUS"), AS_COORDINATOR)


def test_is_notice():
    assert K.is_notice(mail(body=NOTICE_BODY), AS_MEMBER)
    assert not K.is_notice(mail(body="Date: 14/01/2027 only"), AS_MEMBER)


def test_may_not_submit():
    assert K.may_not_submit(mail(), NO_SUBMIT)
    assert not K.may_not_submit(mail(), AS_MEMBER)
    assert not K.may_not_submit(mail(), AS_COORDINATOR)


def test_has_attachments():
    assert K.has_attachments(mail(attachments=[Attachment("x.png", "image/png", b"\x89PNG")]), AS_MEMBER)
    assert not K.has_attachments(mail(), AS_MEMBER)


# -- the order ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("email,verdict,kind", [
    (mail(attachments=[word()]), AUTO, Kind.AUTO),                        # an auto-reply is never handled
    (mail(attachments=[word()]), STRANGER, Kind.REFUSED),                 # a stranger's form is refused
    (mail(attachments=[word()], too_large=True), AS_MEMBER, Kind.TOO_LARGE),
    (mail(attachments=[word()], body="STATUS"), AS_COORDINATOR, Kind.DOCUMENT),
    (mail(body="CONFIRM", subject=NOTICE_BODY), AS_COORDINATOR, Kind.COMMAND),  # a code before a notice
    (mail(body=NOTICE_BODY), AS_COORDINATOR, Kind.NOTICE),
    (mail(body="STATUS"), AS_COORDINATOR, Kind.COMMAND),
    (mail(attachments=[word()]), NO_SUBMIT, Kind.REFUSED),
    (mail(attachments=[word()], body=NOTICE_BODY), AS_MEMBER, Kind.DOCUMENT),  # the form wins
    (mail(body=NOTICE_BODY), AS_MEMBER, Kind.NOTICE),
    (mail(attachments=[Attachment("x.pdf", "application/pdf", b"%PDF-1.4")]), AS_MEMBER, Kind.DOCUMENT),
    (mail(body="EXIT CN12"), AS_MEMBER, Kind.OTHER),                      # a member's "command" does nothing
])
def test_first_matching_rule_gives_the_kind(email, verdict, kind):
    assert K.first_match(email, verdict).kind == kind


def test_every_rule_has_a_name_and_a_description_and_the_chain_ends_with_a_catch_all():
    names = [r.name for r in K.CHAIN]
    assert len(set(names)) == len(names)
    assert all(r.description for r in K.CHAIN)
    assert K.CHAIN[-1].holds(mail(), AS_MEMBER)


@settings(max_examples=200, deadline=None)
@given(role=st.sampled_from(["auto", "ourselves", "stranger", "member", "coordinator"]),
       allowed=st.booleans(), large=st.booleans(), form=st.booleans(), notice=st.booleans(),
       may_submit=st.booleans(), body=st.sampled_from(["", "STATUS", "CONFIRM", "hello"]))
def test_only_an_allowed_coordinator_ever_reaches_the_command_handler(role, allowed, large, form, notice,
                                                                      may_submit, body):
    verdict = Verdict(allowed=allowed and role not in ("auto", "ourselves", "stranger"), role=role,
                      member=dataclasses.replace(MEMBER, may_submit=may_submit) if role == "member" else None,
                      reason="")
    email = mail(body=(NOTICE_BODY if notice else "") + body, attachments=[word()] if form else [],
                 too_large=large)
    kind = K.first_match(email, verdict).kind
    if kind == Kind.COMMAND:
        assert verdict.allowed and role == "coordinator" and not large
    if not verdict.allowed:
        assert kind in (Kind.AUTO, Kind.REFUSED)
