"""End to end on the real Dovecot: minutes read as a person reads them (issue 12, 6).

Minutes from the lead agency whose exit is agreed only in a sentence close the case (the exit notice
goes out, the next Master List leaves the case out); minutes whose exit is unclear leave the case
open, are distributed as usual, and the coordinator's mailbox receives the question with a one-time
code; confirming that code closes the case. Every person, agency and address here is fictional.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone

import pytest
from docx import Document

from confirmhelp import TOKEN_RE, latest_token, reply_confirm
from test_e2e_after_intake import attachments, body, docx_xml, email_everything, master_list_cells, of_kind, run_bot
from mailbot.sandbox.network import TestNetwork
from people import record

pytestmark = pytest.mark.mailserver

NOW = datetime(2027, 3, 20, 9, 0, tzinfo=timezone.utc)
NAMES = {"CN5": "Harriet Quenby", "CN6": "Ossian Threlkeld"}  # on record only: never in any email


@pytest.fixture
def network(mailserver, tmp_path):
    return TestNetwork(mailserver, tmp_path)


@pytest.fixture
def bot(network):
    from mailbot.daemon import Bot
    from mailbot.store import Case

    b = Bot(network.config, clock=lambda: NOW)
    lead_agency, lead = network.members[0]
    for number, (code, name) in enumerate(NAMES.items(), 5):
        first, last = name.split()
        b.store.add_case(Case(code=code, number=number, lead_agency=lead_agency, lead_contact=lead,
                              referred_on="2027-01-04",
                              person=record({"name": name, "first_name": first, "surname": last, "known_as": [],
                                      "other_surnames": [], "date_of_birth": "2010-04-02", "family": []})))
    yield b
    b.close()


def _minutes(network, code: str, discussion: list[str], monitor: str, next_meeting: str,
             next_label: str = "Next meeting (final review / exit)") -> bytes:
    """Minutes as a lead agency types them; the attendees are members of the test network."""
    people = [("Kit Harrowgate", 0), ("Moira Fenwick", 2), ("Shay Dunleavy", 6)]
    doc = Document()
    doc.add_paragraph("Network Case Meeting Minutes", style="Title")
    lead_agency = network.members[0][0]
    for label, value in [("Case Number", code), ("Lead Agency", lead_agency), ("Date", "18/03/2027"),
                         ("Chair", "Kit Harrowgate"), ("Minutes taker", "Moira Fenwick"),
                         ("In Attendance", ", ".join(f"{n} ({network.members[i][0]})" for n, i in people)),
                         ("Apologies", "None")]:
        doc.add_paragraph(f"{label}: {value}")
    doc.add_paragraph("1. Discussion of case", style="Heading 2")
    for line in discussion:
        doc.add_paragraph(line)
    doc.add_paragraph("2. Actions decided and who is responsible", style="Heading 2")
    doc.add_paragraph("Send the coordinator the outcome \u2013 Kit Harrowgate", style="List Bullet")
    doc.add_paragraph("3. Monitor and review", style="Heading 2")
    doc.add_paragraph(monitor)
    doc.add_paragraph("4. Attendance sheet", style="Heading 2")
    t = doc.add_table(rows=1, cols=3)
    for c, h in zip(t.rows[0].cells, ["Name", "Agency", "Email"]):
        c.text = h
    for n, i in people:
        row = t.add_row().cells
        row[0].text, row[1].text, row[2].text = n, network.members[i][0], network.members[i][1]
    doc.add_paragraph("5. AOB", style="Heading 2")
    doc.add_paragraph("None.")
    doc.add_paragraph(f"{next_label}: {next_meeting}")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _send(network, sender: str, data: bytes, name: str = "minutes.docx") -> None:
    raw = network.email_with(sender, "Minutes", attachments=[(name, data)])
    network.server.deliver_to_inbox(network.mailbox, raw, mail_from=sender)


def _no_names(msg) -> None:
    text = email_everything(msg).lower()
    for name in NAMES.values():
        for part in name.lower().split():
            assert part not in text, part


def test_an_exit_agreed_only_in_a_sentence_closes_the_case(network, bot):
    server, lead = network.server, network.members[0][1]
    _send(network, lead, _minutes(network, "CN5", [
        "Kit Harrowgate said CN5 turns 19 next month and has a place on a college course.",
        "All present agreed the concerns have eased and that the young person will now be linked with "
        "adult services.",
    ], "None by the network after this meeting.", "not required"))
    run_bot(bot)

    case = bot.store.get_case("CN5")
    assert case.status == "closed" and case.closed_on == "2027-03-20"
    assert bot.store.get_case("CN6").status == "open"
    for address in network.member_addresses + [network.coordinator]:
        closed, = of_kind(server, address, "case-closed", "CN5")
        _no_names(closed)
    # the minutes went to the attendees on the sheet, coded
    got, = of_kind(server, network.members[2][1], "minutes", "CN5")
    assert "CN5" in docx_xml(attachments(got)[0][1])
    # the next Master List leaves CN5 out and keeps CN6
    lists = of_kind(server, network.members[5][1], "master-list")
    cells = master_list_cells(lists[-1])
    assert "CN6" in cells and "CN5" not in cells
    # nothing was put to the coordinator, and the lead agency is not asked for a next meeting date
    assert not of_kind(server, network.coordinator, "command-confirm")
    assert not of_kind(server, lead, "minutes-no-next-meeting")


def test_an_unclear_exit_is_asked_and_confirming_the_code_closes_the_case(network, bot):
    server, lead = network.server, network.members[0][1]
    _send(network, lead, _minutes(network, "CN6", [
        "Kit Harrowgate said CN6 has completed ten of the twelve sessions.",
        "Shay Dunleavy said the youth service sees CN6 every week.",
    ], "Possible exit at next meeting if the remaining sessions are completed.", "14/04/2027 at 4.30pm"))
    run_bot(bot)

    case = bot.store.get_case("CN6")
    assert case.status == "open" and case.next_meeting == "2027-04-14T16:30"
    assert not of_kind(server, network.members[5][1], "case-closed")
    # the minutes were distributed as usual
    for address in (network.members[2][1], network.members[6][1], network.coordinator):
        got, = of_kind(server, address, "minutes", "CN6")
        _no_names(got)
    # the coordinator is asked: which case, where to look, the code; never the minutes' own words
    ask, = of_kind(server, network.coordinator, "command-confirm", "CN6")
    text = " ".join(body(ask).split())
    assert "CN6" in ask["Subject"] and not TOKEN_RE.search(str(ask["Subject"]))
    assert "unclear whether it was agreed" in text
    assert "section 3 (Monitor and review), paragraph 1" in text
    assert "EXIT CN6" in text
    for words in ("remaining sessions", "Possible exit", "twelve"):
        assert words not in text
    _no_names(ask)
    assert not of_kind(server, lead, "command-confirm")  # only the coordinator is asked

    # doing nothing changes nothing
    run_bot(bot)
    assert bot.store.get_case("CN6").status == "open"

    # confirming the code closes the case, tells the members, and the next Master List leaves it out
    reply_confirm(network, latest_token(server, network.coordinator))
    run_bot(bot)
    assert bot.store.get_case("CN6").status == "closed"
    closed, = of_kind(server, network.members[5][1], "case-closed", "CN6")
    _no_names(closed)
    cells = master_list_cells(of_kind(server, network.members[5][1], "master-list")[-1])
    assert "CN5" in cells and "CN6" not in cells
    # the code works once
    reply_confirm(network, latest_token(server, network.coordinator))
    run_bot(bot)
    assert len(of_kind(server, network.members[5][1], "case-closed", "CN6")) == 1


def test_an_unclear_handover_is_asked_with_the_member_agency(network, bot):
    server, lead = network.server, network.members[0][1]
    new_agency = network.members[6][0]
    _send(network, lead, _minutes(network, "CN5", [
        f"{new_agency} may take over as lead agency once the new placement is confirmed.",
    ], "Monthly.", "02/05/2027 at 10:00", next_label="Date for the next meeting"))
    run_bot(bot)
    case = bot.store.get_case("CN5")
    assert case.lead_agency == network.members[0][0] and case.status == "open"
    assert not of_kind(server, network.members[5][1], "case-handover")
    ask, = of_kind(server, network.coordinator, "command-confirm", "CN5")
    text = " ".join(body(ask).split())
    assert f"HANDOVER CN5 TO {new_agency}" in text
    assert "section 1 (Discussion of case), paragraph 1" in text
    assert re.search(r"handover", ask["Subject"], re.I)
    assert bot.store.get_case("CN5").next_meeting == "2027-05-02T10:00"
