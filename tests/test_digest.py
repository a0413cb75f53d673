"""The coordinator's digest. All names are fictional."""

from __future__ import annotations

import html
import re
from datetime import date, datetime

import pytest

from mailbot.casework.digest import (
    BirthdayItem, DeliveryFailure, DigestSnapshot, FollowUp, MeetingItem, MinutesMissing, NewCase,
    QuarantineItem, build_digest,
)
from mailbot.errors import ConfigError, LeakDetected

NOW = datetime(2027, 1, 11, 7, 0)


def full_snapshot() -> DigestSnapshot:
    return DigestSnapshot(
        new_cases=[NewCase("CN81", "Youth Service", date(2027, 1, 10)),
                   NewCase("CN80", "Riverside School", date(2027, 1, 10))],
        sw_checks_pending=["CN81", "CN9", "CN80"],
        follow_ups_due=[FollowUp("CN77", "Family Support", date(2027, 1, 14))],
        follow_ups_overdue=[FollowUp("CN70", "Garda Youth Diversion", date(2027, 1, 4))],
        meetings_this_week=[MeetingItem("CN12", datetime(2027, 1, 13, 15, 30), "Family Resource Centre"),
                            MeetingItem("CN58A", datetime(2027, 1, 12, 10, 0), "Room 2 <east wing>")],
        minutes_missing=[MinutesMissing("CN15", "Youth Service", datetime(2026, 12, 20, 11, 0))],
        birthdays_ahead=[BirthdayItem("CN19", date(2027, 2, 20))],
        quarantined=[QuarantineItem(datetime(2027, 1, 10, 22, 1), "someone@agency.example",
                                    "The attachment is not a Word document.")],
        delivery_failures=[DeliveryFailure(datetime(2027, 1, 10, 9, 5), "CN80", "old@school.example",
                                           "550 5.1.1 mailbox unavailable")],
        counts={"open cases": 41, "referrals received (24h)": 2},
    )


def test_subject_and_urgency_order():
    subject, text, page = build_digest(full_snapshot(), NOW)
    # failures (1) + quarantined (1) + overdue (1) + minutes (1) + SW checks (3)
    assert subject == "mailbot digest for Mon 11/01/2027: 7 need action"
    order = ["DELIVERY FAILURES", "QUARANTINED", "FOLLOW-UPS OVERDUE", "MINUTES NOT RECEIVED",
             "SOCIAL WORK CHECKS", "TURNING 19 SOON", "FOLLOW-UPS DUE SOON", "MEETINGS THIS WEEK",
             "NEW CASES", "COUNTS"]
    positions = [text.index(h) for h in order]
    assert positions == sorted(positions)
    html_order = [page.index(h) for h in ["Delivery failures", "Quarantined", "Follow-ups overdue",
                                         "Minutes not received", "Social Work checks", "Turning 19",
                                         "Follow-ups due soon", "Meetings this week", "New cases", "Counts"]]
    assert html_order == sorted(html_order)


def test_rows_sorted_and_details_present():
    _, text, _ = build_digest(full_snapshot(), NOW)
    assert text.index("CN58A") < text.index("CN12")  # meetings by time
    sw = text[text.index("SOCIAL WORK CHECKS"):text.index("TURNING 19")]
    assert [c for c in re.findall(r"CN\d+", sw) if c != "CN78"] == ["CN9", "CN80", "CN81"]  # by number
    assert "7 days" in text  # overdue by
    assert "40 days" in text  # turns 19 in
    assert "550 5.1.1 mailbox unavailable" in text
    assert "Wed 13/01/2027 15:30" in text


def test_text_and_html_carry_the_same_cells():
    _, text, page = build_digest(full_snapshot(), NOW)
    cells = re.findall(r"<td [^>]*>(.*?)</td>", page)
    assert len(cells) > 20
    for cell in cells:
        assert html.unescape(cell) in text
    assert "Room 2 &lt;east wing&gt;" in page and "<east wing>" not in page


def test_html_is_outlook_friendly():
    _, _, page = build_digest(full_snapshot(), NOW)
    assert "<script" not in page and "class=" not in page and "<style" not in page and "<img" not in page
    assert page.count("<table") == 10
    assert all('style="' in td for td in re.findall(r"<td[^>]*>", page))
    assert "#b00020" in page  # urgent headings in red


def test_empty_and_information_only_digests():
    subject, text, page = build_digest(DigestSnapshot(), NOW)
    assert subject.endswith("nothing to report") and "Nothing to report today." in text
    assert "<table" not in page
    info = DigestSnapshot(meetings_this_week=[MeetingItem("CN12", datetime(2027, 1, 13, 15, 30), "FRC")])
    subject, text, _ = build_digest(info, NOW)
    assert subject.endswith("nothing needs action") and "CN12" in text


def test_single_item_grammar():
    subject, text, _ = build_digest(DigestSnapshot(sw_checks_pending=["CN5"]), NOW)
    assert subject.endswith(": 1 needs action")
    assert "1 item needs your action" in text


def test_protected_name_refuses_the_digest():
    snap = full_snapshot()
    snap.quarantined.append(QuarantineItem(NOW, "x@y.example", "Referral for Jordan Quinlan"))
    with pytest.raises(LeakDetected) as exc:
        build_digest(snap, NOW, protected_names=["Jordan", "Quinlan"])
    assert "Jordan" not in str(exc.value)
    build_digest(full_snapshot(), NOW, protected_names=["Jordan", "Quinlan"])  # clean one passes


def test_missing_template_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="digest.txt"):
        build_digest(DigestSnapshot(), NOW, templates_dir=tmp_path)


def test_long_or_multiline_values_are_one_line():
    snap = DigestSnapshot(quarantined=[QuarantineItem(NOW, "a@b.example", "line one\nline two " + "x" * 300)])
    _, text, _ = build_digest(snap, NOW)
    row = [l for l in text.splitlines() if l.startswith("Mon 11/01/2027")][0]
    assert "line one line two" in row and row.endswith("...") and len(row) < 260
