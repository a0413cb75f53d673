"""Meeting notices and their .ics invitations. All names are fictional."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from mailbot.casework.calendar_invite import build_ics, escape_text, fold_line, meeting_uid, vtimezone_lines
from mailbot.errors import BadField, LeakDetected, MailbotError
from mailbot.casework.notices import (
    MeetingNotice, NotANotice, looks_like_notice, parse_notice, social_work_may_receive,
)

NOW = datetime(2027, 1, 10, 9, 0)

BODY = """Hello all,

Please see details of the next meeting below.

Case: cn78
Date: 15/02/2027
Time: 15:30
Venue: Family Resource Centre, Main Street, Townville
Organiser: Sam Lead, 087 765 4321, sam.lead@youth.example
Type: assessment

Thanks,
Sam
--
Sam Lead | Youth Service
"""


# -- notices -------------------------------------------------------------------

def test_parse_full_notice():
    n = parse_notice("Meeting notice", BODY, now=NOW)
    assert n == MeetingNotice("CN78", datetime(2027, 2, 15, 15, 30), datetime(2027, 2, 15, 17, 0),
                              "Family Resource Centre, Main Street, Townville", "Sam Lead",
                              "087 765 4321", "sam.lead@youth.example", "assessment", False)
    assert n.duration == timedelta(minutes=90)
    assert "CN78" in n.summary() and "CN78" in n.description()


@pytest.mark.parametrize("time_line,start,end", [
    ("Time: 3.30pm", (15, 30), (17, 0)),
    ("Time: 3:30 pm", (15, 30), (17, 0)),
    ("Time: 10am", (10, 0), (11, 30)),
    ("Time: 09.15", (9, 15), (10, 45)),
    ("Time: 15:30 - 17:00", (15, 30), (17, 0)),
    ("Time: 3.30-5pm", (15, 30), (17, 0)),
    ("Time: 11am to 12.30pm", (11, 0), (12, 30)),
    ("Time: 14:00\nEnd: 16:15", (14, 0), (16, 15)),
    ("Time: 14:00\nDuration: 2 hours", (14, 0), (16, 0)),
    ("Time: 14:00\nDuration: 45 min", (14, 0), (14, 45)),
    ("Time: 12 noon", (12, 0), (13, 30)),
])
def test_time_forms(time_line, start, end):
    body = ("Date: 15 Feb 2027\n" + time_line + "\nVenue: School hall\n"
            "Organiser: Sam Lead, sam.lead@youth.example\n")
    n = parse_notice("Meeting notice CN78", body)
    assert (n.start.hour, n.start.minute) == start
    assert (n.end.hour, n.end.minute) == end
    assert n.start.date() == datetime(2027, 2, 15).date()


@pytest.mark.parametrize("date_text", ["15/02/2027", "15-02-27", "15.2.2027", "2027-02-15",
                                       "15 February 2027", "Monday 15th February 2027", "Mon 15 Feb 2027"])
def test_date_forms(date_text):
    body = f"Date: {date_text}\nTime: 15:30\nVenue: X\nOrganiser: Sam Lead 0871234567\n"
    assert parse_notice("Meeting notice CN78", body).start == datetime(2027, 2, 15, 15, 30)


def test_code_from_subject_and_separate_contact_lines():
    body = ("Date: 15/02/2027\nTime: 15:30\nWhere: Room 2\nContact: Sam Lead\n"
            "Phone: 087 765 4321\nEmail: Sam.Lead@Youth.example\nStatus: cancelled\n")
    n = parse_notice("Network Case Meeting - CN58A", body)
    assert (n.code, n.organiser_phone, n.organiser_email, n.cancelled) == (
        "CN58A", "087 765 4321", "sam.lead@youth.example", True)


@pytest.mark.parametrize("change,needle", [
    (("Date: 15/02/2027\n", ""), "Date line is missing"),
    (("Time: 15:30\n", ""), "Time line is missing"),
    (("Venue: Family Resource Centre, Main Street, Townville\n", ""), "Venue line is missing"),
    (("Organiser: Sam Lead, 087 765 4321, sam.lead@youth.example\n", ""), "Organiser line is missing"),
    (("Organiser: Sam Lead, 087 765 4321, sam.lead@youth.example", "Organiser: Sam Lead"),
     "phone number or an email"),
    (("Date: 15/02/2027", "Date: 31/02/2027"), "date does not exist"),
    (("Date: 15/02/2027", "Date: next Tuesday"), "date"),
    (("Time: 15:30", "Time: 3.30"), "morning or afternoon"),
    (("Time: 15:30", "Time: 25:00"), "time"),
    (("Time: 15:30", "Time: 15:30-15:00"), "end after it starts"),
    (("Type: assessment", "Type: party"), "Type line"),
    (("Case: cn78", "Case: CN78 (Jordan Example)"), "only the case code"),
    (("Case: cn78", "Case: CN78, CN79"), "one case code"),
    (("Date: 15/02/2027", "Date: 15/02/2026"), "in the past"),
    (("Date: 15/02/2027", "Date: 15/02/2030"), "two years"),
])
def test_bad_notice_says_which_line(change, needle):
    body = BODY.replace(*change)
    with pytest.raises(BadField) as exc:
        parse_notice("Meeting notice", body, now=NOW)
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg
    assert "Jordan" not in msg


def test_missing_code_and_not_a_notice():
    with pytest.raises(BadField, match="case code is missing"):
        parse_notice("Meeting notice", BODY.replace("Case: cn78\n", ""))
    with pytest.raises(NotANotice):
        parse_notice("Lunch?", "Are you free on Friday?")


def test_protected_name_anywhere_refuses_the_notice():
    body = BODY.replace("Please see details", "Re Jordan's meeting, please see details")
    with pytest.raises(LeakDetected) as exc:
        parse_notice("Meeting notice", body, protected_names=["Jordan", "Example"])
    assert "Jordan" not in str(exc.value)
    with pytest.raises(LeakDetected):
        parse_notice("Meeting notice CN78 JORDAN", BODY, protected_names=["jordan"])
    # a protected name that is only part of another word does not count
    assert parse_notice("Meeting notice", BODY, protected_names=["Lea"]).code == "CN78"


def test_looks_like_notice():
    assert looks_like_notice("Meeting notice CN78", "")
    assert looks_like_notice("Notice of Network Case Meeting", "")
    assert looks_like_notice("Re: next week", BODY)
    assert not looks_like_notice("Referral form", "Please find attached a referral.")
    assert not looks_like_notice("Minutes CN12", "Minutes attached. Date: 1/1/2027")


def test_social_work_gets_notices_only_when_known_open_allocated():
    assert social_work_may_receive(True, True, True)
    for combo in [(True, True, False), (True, False, True), (False, None, None), (None, None, None)]:
        assert not social_work_may_receive(*combo)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(max_size=400))
def test_parse_notice_fails_only_with_plain_errors(subject, body):
    try:
        parse_notice(subject, body)
    except MailbotError as exc:
        assert str(exc) and "\n" not in str(exc)


# -- .ics ----------------------------------------------------------------------

def unfold(data: bytes) -> list[str]:
    text = data.decode("utf-8")
    assert "\n" not in text.replace("\r\n", "")  # every line ends in CRLF
    assert text.endswith("\r\n")
    physical = text.split("\r\n")[:-1]
    for line in physical:
        assert len(line.encode("utf-8")) <= 75
    logical: list[str] = []
    for line in physical:
        if line.startswith(" "):
            logical[-1] += line[1:]
        else:
            logical.append(line)
    return logical


def props(lines: list[str], name: str) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        head, _, value = line.partition(":")
        if head.split(";")[0] == name:
            out.append((head, value))
    return out


def unescape(v: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), v)


def make_ics(**kw):
    n = parse_notice("Meeting notice", BODY)
    args = dict(uid=meeting_uid("CN78", 1, "net.example"), start=n.start, end=n.end,
                tz_name="Europe/Dublin", summary=n.summary(), location=n.venue,
                description=n.description() + "\nBackslash \\ and semi; colon: ünïcödé " * 3,
                organizer_email="coordinator@net.example",
                attendee_emails=["a@school.example", "b@youth.example", "A@school.example"],
                now=datetime(2027, 1, 10, 9, 0, tzinfo=timezone.utc), organizer_name="Network Coordinator")
    args.update(kw)
    return n, build_ics(**args)


def test_ics_request_fields_roundtrip():
    n, data = make_ics()
    lines = unfold(data)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert props(lines, "METHOD") == [("METHOD", "REQUEST")]
    assert props(lines, "VERSION") == [("VERSION", "2.0")]
    assert props(lines, "UID") == [("UID", "CN78-m1@net.example")]
    assert props(lines, "DTSTAMP") == [("DTSTAMP", "20270110T090000Z")]
    assert props(lines, "SEQUENCE") == [("SEQUENCE", "0")]
    assert props(lines, "DTSTART")[-1] == ("DTSTART;TZID=Europe/Dublin", "20270215T153000")
    assert props(lines, "DTEND") == [("DTEND;TZID=Europe/Dublin", "20270215T170000")]
    assert unescape(props(lines, "SUMMARY")[0][1]) == "Network Case Meeting CN78 (assessment)"
    assert unescape(props(lines, "LOCATION")[0][1]) == n.venue
    desc = unescape(props(lines, "DESCRIPTION")[0][1])
    assert desc.startswith("Network Case Meeting for case CN78.\nVenue:")
    assert "Backslash \\ and semi; colon: ünïcödé" in desc
    assert props(lines, "ORGANIZER") == [("ORGANIZER;CN=Network Coordinator", "mailto:coordinator@net.example")]
    att = props(lines, "ATTENDEE")
    assert [v for _, v in att] == ["mailto:a@school.example", "mailto:b@youth.example"]  # deduplicated
    assert all("RSVP=TRUE" in h for h, _ in att)
    assert props(lines, "STATUS") == [("STATUS", "CONFIRMED")]
    # folding happened (long description), and never inside a UTF-8 character (decode succeeded)
    assert len(data.decode().split("\r\n")) > len(lines)


def test_ics_vtimezone_dublin_matches_zoneinfo():
    lines = unfold(make_ics()[1])
    i, j = lines.index("BEGIN:VTIMEZONE"), lines.index("END:VTIMEZONE")
    tz = lines[i:j + 1]
    assert "TZID:Europe/Dublin" in tz
    daylight = tz[tz.index("BEGIN:DAYLIGHT"):tz.index("END:DAYLIGHT")]
    standard = tz[tz.index("BEGIN:STANDARD"):tz.index("END:STANDARD")]
    assert "TZOFFSETFROM:+0000" in daylight and "TZOFFSETTO:+0100" in daylight
    assert "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU" in daylight and "TZNAME:IST" in daylight
    assert "TZOFFSETFROM:+0100" in standard and "TZOFFSETTO:+0000" in standard
    assert "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU" in standard
    # the rule's instants agree with the tz database: last Sunday of March 01:00 UTC
    d = ZoneInfo("Europe/Dublin")
    assert datetime(2027, 3, 28, 0, 59, tzinfo=timezone.utc).astimezone(d).utcoffset() == timedelta(0)
    assert datetime(2027, 3, 28, 1, 0, tzinfo=timezone.utc).astimezone(d).utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize("zone,std,dst", [("Europe/London", "+0000", "+0100"),
                                          ("America/New_York", "-0500", "-0400")])
def test_vtimezone_other_zones(zone, std, dst):
    lines = vtimezone_lines(zone, 2027)
    daylight = lines[lines.index("BEGIN:DAYLIGHT"):lines.index("END:DAYLIGHT")]
    assert f"TZOFFSETFROM:{std}" in daylight and f"TZOFFSETTO:{dst}" in daylight
    assert lines.count("BEGIN:STANDARD") == 1
    assert any(l.startswith("DTSTART:1970") for l in daylight)
    fixed = vtimezone_lines("Asia/Tokyo", 2027)
    assert "TZOFFSETTO:+0900" in fixed and "BEGIN:DAYLIGHT" not in fixed


def test_ics_summer_meeting_and_aware_input():
    start = datetime(2027, 7, 1, 9, 0, tzinfo=timezone.utc)  # 10:00 IST
    _, data = make_ics(start=start, end=start + timedelta(hours=1))
    lines = unfold(data)
    assert props(lines, "DTSTART")[-1] == ("DTSTART;TZID=Europe/Dublin", "20270701T100000")


def test_ics_cancel_variant():
    _, data = make_ics(method="CANCEL", sequence=2)
    lines = unfold(data)
    assert props(lines, "METHOD") == [("METHOD", "CANCEL")]
    assert props(lines, "STATUS") == [("STATUS", "CANCELLED")]
    assert props(lines, "SEQUENCE") == [("SEQUENCE", "2")]
    assert props(lines, "UID") == [("UID", "CN78-m1@net.example")]


@pytest.mark.parametrize("kw,needle", [
    (dict(end=datetime(2027, 2, 15, 15, 0)), "end after"),
    (dict(organizer_email="not an address"), "organiser"),
    (dict(attendee_emails=["x@y.example\r\nATTENDEE:mailto:evil@z.example"]), "invitee"),
    (dict(tz_name="Mars/Olympus"), "time zone"),
    (dict(method="PUBLISH"), "REQUEST or CANCEL"),
    (dict(uid="has space"), "UID"),
])
def test_ics_bad_input(kw, needle):
    with pytest.raises(BadField, match=needle):
        make_ics(**kw)


def test_escape_and_fold_helpers():
    assert escape_text("a,b;c\\d\r\ne") == "a\\,b\\;c\\\\d\\ne"
    folded = fold_line("X" * 74 + "é" * 40)
    parts = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in parts)
    assert "".join(p[1:] if k else p for k, p in enumerate(parts)) == "X" * 74 + "é" * 40


def test_fallback_date_reader_agrees():
    from mailbot.casework.notices import _fallback_parse_date
    for text in ["15/02/2027", "15-02-27", "2027-02-15", "Monday 15th February 2027"]:
        assert _fallback_parse_date(text) == datetime(2027, 2, 15).date()
    with pytest.raises(BadField):
        _fallback_parse_date("31/02/2027")


def test_subject_and_case_line_must_agree():
    assert parse_notice("Meeting notice CN78", BODY).code == "CN78"
    with pytest.raises(BadField, match="CN79 but the Case line says CN78"):
        parse_notice("Meeting notice CN79", BODY)
