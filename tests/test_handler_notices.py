"""handlers.notices in the middle layer: a lead agency's meeting notice, and the facts it records as rows."""

from __future__ import annotations

import pytest

from desk import text_of


@pytest.fixture
def desk(desk):
    """conftest's desk after S01 was referred by the lead agency: case CN1."""
    desk.referral(desk.lead)
    return desk


def notice(desk, sender: str, *, date: str = "14/12/2026", time: str = "10:30", extra: str = "") -> bytes:
    body = (f"Case: CN1\nDate: {date}\nTime: {time}\nVenue: Marsden Vale Family Centre, Room 2\n"
            f"Organiser: Priya Lal, 01 555 0101, {sender}\n{extra}")
    return desk.email(sender, "Meeting notice", body=body)


def test_a_notice_goes_to_the_members_with_an_invitation_and_is_recorded_as_a_row(desk):
    assert desk.handle(notice(desk, desk.lead)) == "processed"
    notices = desk.outgoing("meeting-notice")
    assert notices
    for msg in notices:
        assert any(p.get_content_type() == "text/calendar" for p in msg.walk())
    (row,) = desk.store.meeting_notices()
    assert row["case_code"] == "CN1" and row["start"] == "2026-12-14T10:30"
    assert sorted(row["invitees"]) == sorted(a for m in notices for a in m.get_all("To"))
    assert desk.store.latest_meeting("CN1") == {"no": 1, "seq": 0, "start": "2026-12-14T10:30", "cancelled": False}
    assert desk.store.get_case("CN1").next_meeting == "2026-12-14T10:30"
    assert desk.outgoing("notice-received", to=desk.lead)


def test_a_new_time_for_the_announced_meeting_keeps_its_number_and_raises_the_sequence(desk):
    desk.handle(notice(desk, desk.lead))
    desk.handle(notice(desk, desk.lead, time="14:00"))
    assert desk.store.latest_meeting("CN1") == {"no": 1, "seq": 1, "start": "2026-12-14T14:00", "cancelled": False}
    assert len(desk.store.meeting_notices()) == 2


def test_a_notice_from_a_member_that_is_not_the_lead_changes_nothing(desk):
    other = desk.net.members[1][1]
    assert desk.handle(notice(desk, other)) == "quarantined"
    assert not desk.store.meeting_notices()
    assert desk.store.latest_meeting("CN1") is None
    (reply,) = desk.outgoing("form-problem", to=other)
    assert "lead agency" in text_of(reply)
