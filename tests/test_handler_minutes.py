"""handlers.minutes in the middle layer: the lead agency's minutes, coded, sent on, and their facts as rows."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from desk import Desk

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "db"))
from make_v4 import minutes_docx  # noqa: E402  (the same fictional minutes the schema-4 database holds)


@pytest.fixture
def desk(tmp_path):
    d = Desk(tmp_path)
    d.referral(d.lead)
    yield d
    d.close()


def test_minutes_are_sent_on_and_their_actions_and_receipt_are_rows(desk):
    agency = desk.net.members[0][0]
    raw = desk.email(desk.lead, "Minutes", attachments=[("minutes.docx", minutes_docx(agency, desk.lead))])
    assert desk.handle(raw) == "processed"
    assert desk.outgoing("minutes", to=desk.lead)
    assert [a["action"] for a in desk.store.actions("CN1")] == ["Arrange a place on the summer programme"]
    assert [r["case_code"] for r in desk.store.minutes_received()] == ["CN1"]
    assert desk.store.get_case("CN1").next_meeting.startswith("2027-01-25")


def test_minutes_from_another_member_change_nothing(desk):
    other_agency, other = desk.net.members[1]
    raw = desk.email(other, "Minutes", attachments=[("minutes.docx", minutes_docx(desk.net.members[0][0], other))])
    assert desk.handle(raw) == "quarantined"
    assert not desk.store.actions("CN1")
    assert not desk.store.minutes_received()
