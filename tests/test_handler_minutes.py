"""handlers.minutes in the middle layer: the lead agency's minutes, coded, sent on, and their facts as rows."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest


sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "db"))
from make_v4 import minutes_docx  # noqa: E402  (the same fictional minutes the schema-4 database holds)


@pytest.fixture
def desk(desk):
    """conftest's desk after S01 was referred by the lead agency: case CN1."""
    desk.referral(desk.lead)
    return desk


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


def _minutes_with(agency: str, lead: str, guest: tuple[str, str, str]) -> bytes:
    """Minutes for CN1 attended by the lead and by ``guest`` (name, agency, email). Fictional people."""
    import docx

    d = docx.Document()
    d.add_heading("Network Case Meeting Minutes", 1)
    for line in ("Case Number: CN1", f"Lead Agency: {agency}", "Date: 14/12/2026", "Chair: Priya Lal",
                 "Minutes taker: Tomás Breen", "Apologies: none"):
        d.add_paragraph(line)
    d.add_heading("1 Discussion of case", 2)
    d.add_paragraph(f"{guest[0]} ({guest[1]}) will offer weekly sessions.")
    d.add_heading("4 Attendance sheet", 2)
    sheet = d.add_table(rows=3, cols=3)
    for i, v in enumerate(("Name", "Agency", "Email")):
        sheet.rows[0].cells[i].text = v
    for i, v in enumerate(("Priya Lal", agency, lead)):
        sheet.rows[1].cells[i].text = v
    for i, v in enumerate(guest):
        sheet.rows[2].cells[i].text = v
    d.add_paragraph("Date for the next meeting: 25/01/2027 at 11:00")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def _docx_text(data: bytes) -> str:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith(".xml"))


def test_a_sensitive_service_at_the_meeting_is_an_unspecified_service_to_the_other_members(desk):
    """Issue 12 item 5: minutes attendance. No consent to share with sensitive services is on record for
    CN1, so the mental health team that attended is, in every other member's copy, an unspecified service."""
    import dataclasses

    sensitive_agency, sensitive_address = next((a, m) for a, m in desk.net.members if "Mental Health" in a)
    desk.ctx.cfg.members = [dataclasses.replace(m, sensitive=True) if m.agency == sensitive_agency else m
                            for m in desk.ctx.cfg.members]
    agency = desk.net.members[0][0]
    guest = ("Oonagh Feeney", sensitive_agency, sensitive_address)
    raw = desk.email(desk.lead, "Minutes", attachments=[("minutes.docx", _minutes_with(agency, desk.lead, guest))])
    assert desk.handle(raw) == "processed"

    def copy_for(address):
        (msg,) = desk.outgoing("minutes", to=address)
        (att,) = list(msg.iter_attachments())
        return (str(msg["Subject"]) + msg.get_body(("plain",)).get_content() + _docx_text(att.get_content()))

    other = copy_for(desk.lead)
    for word in (sensitive_agency, "Oonagh", "Feeney", sensitive_address):
        assert word.lower() not in other.lower(), word
    assert "unspecified service" in other
    for address in (sensitive_address, desk.coordinator):
        own = copy_for(address)
        assert sensitive_agency in own and "Oonagh Feeney" in own
