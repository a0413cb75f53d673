"""Coordinator command parsing. All names are fictional."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from mailbot.casework.commands import (
    CommandError, Detained, ExitCase, Handover, Help, MemberAdd, MemberChange, MemberRemove,
    Released, ResendMasterList, SocialWorkCheck, format_reply, normalise_code, parse_commands,
)


def one(line):
    out = parse_commands(line)
    assert len(out) == 1, out
    return out[0]


def test_sw_known_open_with_worker():
    c = one('SW CN78 known open worker "Aoife Test" 087 123 4567 aoife.test@hse.example')
    assert c == SocialWorkCheck("CN78", True, True, "Aoife Test", "087 123 4567",
                                "aoife.test@hse.example", line=c.line)
    assert c.allocated
    assert c.line.startswith("SW CN78")


def test_sw_worker_without_quotes_or_keyword_and_lower_case():
    c = one("sw cn78 KNOWN Open allocated Aoife Test, +353 87 123 4567, Aoife.Test@HSE.example")
    assert isinstance(c, SocialWorkCheck)
    assert (c.code, c.worker_name, c.worker_phone, c.worker_email) == (
        "CN78", "Aoife Test", "+353 87 123 4567", "aoife.test@hse.example")


@pytest.mark.parametrize("line", ["SW CN78 not-known", "sw cn 78 NOT KNOWN", "SW CN-078 unknown"])
def test_sw_not_known(line):
    c = one(line)
    assert c == SocialWorkCheck("CN78", False, None, line=line)
    assert not c.allocated


def test_sw_known_closed_and_unallocated():
    closed = one("SW CN58A known closed")
    assert (closed.code, closed.known, closed.open, closed.allocated) == ("CN58A", True, False, False)
    unalloc = one("SW CN58B known open unallocated")
    assert (unalloc.known, unalloc.open, unalloc.worker_name, unalloc.allocated) == (True, True, None, False)
    also = one("SW CN58B known open not allocated")
    assert also.open and also.worker_name is None


@pytest.mark.parametrize("line,needle", [
    ("SW CN78", "KNOWN or NOT-KNOWN"),
    ("SW CN78 known", "OPEN or CLOSED"),
    ("SW CN78 maybe", "KNOWN or NOT-KNOWN"),
    ("SW known open", "case code"),
    ('SW CN78 known open worker "Aoife Test"', "phone number or email"),
    ("SW CN78 known open allocated", "missing"),
    ("SW CN78 known closed worker Aoife Test 0871234567", "closed case"),
    ('SW CN78 known open worker "Aoife Test" 087 123 4567 aoife@', "not complete"),
])
def test_sw_errors_say_what_and_show_syntax(line, needle):
    e = one(line)
    assert isinstance(e, CommandError)
    assert needle in e.message
    assert "SW CN78" in e.message  # the correct syntax is shown
    assert "\n" not in e.message
    assert e.line == line


def test_exit_handover_detained_released():
    out = parse_commands(
        "EXIT cn78 no longer a concern, linked to adult services\n"
        "HANDOVER CN78 TO Northside Youth Service\n"
        "handover cn12 youth.lead@northside.example\n"
        "DETAINED CN19\n"
        "released cn19\n"
        "exit CN20\n"
    )
    assert out[0] == ExitCase("CN78", "no longer a concern, linked to adult services", line=out[0].line)
    assert out[1] == Handover("CN78", "Northside Youth Service", line=out[1].line)
    assert out[2].to == "youth.lead@northside.example" and out[2].to_is_email
    assert out[3] == Detained("CN19", line="DETAINED CN19")
    assert out[4] == Released("CN19", line="released cn19")
    assert out[5] == ExitCase("CN20", "", line="exit CN20")


@pytest.mark.parametrize("line", ["EXIT", "EXIT 78", "HANDOVER CN78", "HANDOVER CN78 TO", "DETAINED",
                                  "DETAINED CN78 today", "RELEASED Mason"])
def test_case_command_errors(line):
    assert isinstance(one(line), CommandError)


def test_member_commands():
    out = parse_commands(
        "MEMBER ADD Riverside Family Support info@riverside.example\n"
        'member add "HSE Social Work" duty.sw@hse.example social-work no-submit\n'
        "MEMBER REMOVE Old.Contact@school.example\n"
        "MEMBER CHANGE a@school.example TO b@school.example\n"
    )
    assert out[0] == MemberAdd("Riverside Family Support", "info@riverside.example", False, True,
                               line=out[0].line)
    assert out[1] == MemberAdd("HSE Social Work", "duty.sw@hse.example", True, False, line=out[1].line)
    assert out[2] == MemberRemove("old.contact@school.example", line=out[2].line)
    assert out[3] == MemberChange("a@school.example", "b@school.example", line=out[3].line)


@pytest.mark.parametrize("line", ["MEMBER", "MEMBER ADD info@x.example", "MEMBER ADD School",
                                  "MEMBER ADD School info@x.example admin", "MEMBER REMOVE",
                                  "MEMBER CHANGE a@x.example", "MEMBER CHANGE a@x.example a@x.example",
                                  "MEMBER PROMOTE a@x.example"])
def test_member_errors(line):
    e = one(line)
    assert isinstance(e, CommandError) and "MEMBER" in e.message


def test_resend_and_help():
    assert isinstance(one("RESEND MASTER LIST"), ResendMasterList)
    assert isinstance(one("resend master-list"), ResendMasterList)
    assert isinstance(one("resend masterlist"), ResendMasterList)
    assert isinstance(one("RESEND referral CN78"), CommandError)
    assert isinstance(one("help"), Help)


def test_quotes_signatures_blank_lines_and_bullets_are_ignored():
    body = (
        "\n"
        "  - SW CN78 not-known\n"
        "\n"
        "2. DETAINED CN12\n"
        "> EXIT CN99\n"
        "-- \n"
        "Coordinator\n"
        "EXIT CN98\n"
    )
    out = parse_commands(body)
    assert [type(c) for c in out] == [SocialWorkCheck, Detained]


def test_reply_chain_is_not_read():
    body = ("RELEASED CN5\n\nOn Mon, 4 Jan 2027 at 10:00, Someone <a@b.example> wrote:\n"
            "EXIT CN5\n")
    assert [type(c) for c in parse_commands(body)] == [Released]
    outlook = "HELP\n-----Original Message-----\nEXIT CN5\n"
    assert [type(c) for c in parse_commands(outlook)] == [Help]


def test_prose_line_is_an_error_with_guidance():
    e = one("Hi, can you sort out the case from yesterday?")
    assert isinstance(e, CommandError)
    assert "HELP" in e.message


def test_normalise_code():
    assert normalise_code("cn78") == "CN78"
    assert normalise_code("CN 058a") == "CN58A"
    assert normalise_code("CNX") is None
    assert normalise_code("78") is None


def test_format_reply_quotes_each_line_and_outcome():
    text = format_reply([("SW CN78 not-known", "Recorded: CN78 is not known to Social Work."),
                         ("EXIT CN1", "Not done: there is no open case CN1.")])
    assert "> SW CN78 not-known\nRecorded: CN78 is not known to Social Work." in text
    assert "> EXIT CN1\nNot done: there is no open case CN1." in text
    assert "HELP" in format_reply([])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_never_raises(text):
    for item in parse_commands(text):
        assert hasattr(item, "line")
        if isinstance(item, CommandError):
            assert item.message and "\n" not in item.message
