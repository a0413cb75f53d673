"""End to end after intake, on the real Dovecot: the coordinator's commands, meeting notices, minutes, exit, handover.

Each test puts mail in the coordinator's inbox, runs the bot once (inbox, then outbox) and reads what landed in
each member's mailbox over IMAP. Every person, agency and address here is fictional.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from datetime import datetime, timezone

import pytest

from confirmhelp import command_confirmed
from conftest import SAMPLES, truth_for
from mailbot.sandbox.network import MASTER_LIST_PASSWORD, TestNetwork
from people import record

pytestmark = pytest.mark.mailserver

#: the bot's clock in every test: a Sunday in January 2027 (meetings in the samples are in Feb/March 2027)
NOW = datetime(2027, 1, 10, 9, 0, tzinfo=timezone.utc)
WORKER_LINE = 'SW CN1 known open worker "Aoife Test" 087 123 4567 aoife.test@hse.example'


# -- helpers ------------------------------------------------------------------------------

def run_bot(bot, timeout: float = 30.0) -> None:
    """Process the inbox once (plus the per-batch Master List), then deliver the outbox until it is empty."""
    bot.drain_inbox_once()
    asyncio.run(bot.make_outbox().drain_until_empty(timeout))


def docx_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist()
                         if n.endswith(".xml") or n.endswith(".rels"))


def attachments(msg):
    return [(p.get_filename(), p.get_content()) for p in msg.iter_attachments()]


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def of_kind(mailserver, address: str, kind: str, code: str | None = None):
    return [m for m in mailserver.fetch_all(address)
            if m["X-Mailbot-Kind"] == kind and (code is None or m["X-Mailbot-Case"] == code)]


def email_everything(msg) -> str:
    """Headers, text, html and every attachment's text: what a name-leak check must look at."""
    parts = [str(msg["Subject"] or "")]
    for part in msg.walk():
        if part.is_multipart():
            continue
        data = part.get_payload(decode=True) or b""
        if data[:2] == b"PK":
            parts.append(docx_xml(data))
        else:
            parts.append(data.decode("utf-8", "replace"))
    return "\n".join(parts)


def command(network, text: str, subject: str = "commands", bot=None) -> None:
    """Commands from the coordinator; with ``bot``, also confirmed (the next run carries them out)."""
    if bot is not None:
        command_confirmed(network, bot, network.server, text, run_bot)
        return
    raw = network.email_with(network.coordinator, subject, body=text)
    network.server.deliver_to_inbox(network.mailbox, raw, mail_from=network.coordinator)


def notice_email(network, sender: str, code_line: str, *, date: str = "20/01/2027", time: str = "10:30",
                 venue: str = "Marsden Vale Family Centre, Room 2") -> None:
    text = (f"{code_line}\nDate: {date}\nTime: {time}\nVenue: {venue}\n"
            f"Organiser: Priya Lal, 01 555 0101, {sender}\n\nThanks,\nPriya\n")
    raw = network.email_with(sender, "Meeting notice", body=text)
    network.server.deliver_to_inbox(network.mailbox, raw, mail_from=sender)


def ics_of(msg) -> str:
    (name, data), = [(n, d) for n, d in attachments(msg) if n == "invite.ics"]
    return data if isinstance(data, str) else data.decode("utf-8")


def master_list_cells(msg) -> list[str]:
    import openpyxl

    from mailbot.casework.master_list import decrypt_workbook

    (fname, enc), = attachments(msg)
    wb = openpyxl.load_workbook(io.BytesIO(decrypt_workbook(enc, MASTER_LIST_PASSWORD)))
    return [str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]


@pytest.fixture
def network(mailserver, tmp_path):
    return TestNetwork(mailserver, tmp_path)


@pytest.fixture
def bot(network):
    from mailbot.daemon import Bot

    b = Bot(network.config, clock=lambda: NOW)
    yield b
    b.close()


@pytest.fixture
def coded_case(network, bot):
    """S01 referred by the first member (the lead agency), coded CN1, members' mail delivered."""
    lead = network.members[0][1]
    network.send_referral(lead, SAMPLES / "S01-table.docx")
    run_bot(bot)
    assert [c.code for c in bot.store.open_cases()] == ["CN1"]
    return lead


# -- 1. the Social Work check ------------------------------------------------------------------

def test_sw_command_with_worker_tells_lead_and_sends_coded_referral_to_social_work_once(
        network, bot, mailserver, coded_case):
    lead = coded_case
    sw = network.social_work[1]
    protected = [t.lower() for t in truth_for(SAMPLES / "S01-table.docx")["protected_tokens"]]
    assert not of_kind(mailserver, sw, "coded-referral")

    command(network, WORKER_LINE + "\nSW CN1 maybe later\n\n-- \nAine, coordinator", bot=bot)
    run_bot(bot)

    # the lead agency has the worker's details
    details, = of_kind(mailserver, lead, "social-work-details", "CN1")
    text = body(details)
    assert "Aoife Test" in text and "087 123 4567" in text and "aoife.test@hse.example" in text
    assert not any(t in text.lower() for t in protected)
    # nobody else got them
    assert not of_kind(mailserver, network.members[1][1], "social-work-details")
    # Social Work now has the Coded Referral: exactly once, without any name
    coded, = of_kind(mailserver, sw, "coded-referral", "CN1")
    (name, data), = attachments(coded)
    assert name.startswith("CN1") and name.endswith(".docx")
    everything = email_everything(coded).lower()
    assert not any(t in everything for t in protected)
    assert "CN1" in docx_xml(data)
    # the coordinator's reply quotes each line with done / not done (+ the syntax): the line in error
    # was answered at once, in the confirmation request; the confirmed line after confirmation
    reply, = of_kind(mailserver, network.coordinator, "command-reply")
    text = body(reply)
    assert WORKER_LINE in text
    ok_part = text.split(WORKER_LINE, 1)[1]
    assert re.search(r"\bdone\b", ok_part.split("\n\n")[0] + ok_part[:400], re.I)
    request, = of_kind(mailserver, network.coordinator, "command-confirm")
    text = body(request)
    assert "SW CN1 maybe later" in text
    bad_part = text.split("SW CN1 maybe later", 1)[1]
    assert "not done" in bad_part.lower()
    assert "SW CN78 KNOWN CLOSED" in bad_part or "NOT-KNOWN" in bad_part
    # the store has the answer
    case = bot.store.get_case("CN1")
    assert case.sw_known is True and case.sw_open is True and case.sw_worker["name"] == "Aoife Test"

    # the same command again: Social Work still has exactly one Coded Referral
    command(network, WORKER_LINE, bot=bot)
    run_bot(bot)
    assert len(of_kind(mailserver, sw, "coded-referral", "CN1")) == 1
    assert len(of_kind(mailserver, network.coordinator, "command-reply")) == 2


def test_sw_not_known_sends_nothing_to_social_work(network, bot, mailserver, coded_case):
    sw = network.social_work[1]
    before = len(mailserver.fetch_all(sw))
    command(network, "sw cn-1 not-known", bot=bot)
    run_bot(bot)
    case = bot.store.get_case("CN1")
    assert case.sw_known is False and case.sw_worker is None
    after = mailserver.fetch_all(sw)
    assert [m["X-Mailbot-Kind"] for m in after[before:]] in ([], ["master-list"])
    assert not of_kind(mailserver, sw, "coded-referral")
    assert not of_kind(mailserver, coded_case, "social-work-details")
    reply, = of_kind(mailserver, network.coordinator, "command-reply")
    assert "not known" in body(reply) and "not done" not in body(reply).lower()


def test_commands_for_unknown_codes_are_refused_plainly(network, bot, mailserver):
    command(network, "EXIT CN404\nHANDOVER CN404 TO Hebble Youth Service\nSW CN404 not-known", bot=bot)
    run_bot(bot)
    reply, = of_kind(mailserver, network.coordinator, "command-reply")
    text = body(reply)
    assert text.lower().count("not done") == 3
    assert "CN404 is not a case code on record" in text
    assert "Traceback" not in text
    assert not of_kind(mailserver, network.members[0][1], "case-closed")


# -- 2. meeting notices ----------------------------------------------------------------------------

def test_meeting_notice_reaches_members_with_invite_and_social_work_only_when_allocated(
        network, bot, mailserver, coded_case):
    lead = coded_case
    sw = network.social_work[1]
    protected = [t.lower() for t in truth_for(SAMPLES / "S01-table.docx")["protected_tokens"]]

    notice_email(network, lead, "Meeting notice CN1")
    run_bot(bot)

    for address in network.member_addresses + [network.coordinator]:
        notice, = of_kind(mailserver, address, "meeting-notice", "CN1")
        assert "CN1" in notice["Subject"]
        ics = ics_of(notice)
        assert "METHOD:REQUEST" in ics
        assert "DTSTART;TZID=Europe/Dublin:20270120T103000" in ics
        summary = re.search(r"^SUMMARY:(.*)$", ics, re.M).group(1)
        assert "CN1" in summary
        everything = email_everything(notice).lower()
        assert not any(t in everything for t in protected), address
    assert not of_kind(mailserver, sw, "meeting-notice"), "Social Work: not known/open/allocated yet"
    ack, = of_kind(mailserver, lead, "notice-received", "CN1")
    assert "CN1" in ack["Subject"]
    assert bot.store.get_case("CN1").next_meeting.startswith("2027-01-20T10:30")

    # known + open but no worker: still not Social Work
    command(network, "SW CN1 known open unallocated", bot=bot)
    run_bot(bot)
    notice_email(network, lead, "Case: CN1", date="27/01/2027")
    run_bot(bot)
    assert not of_kind(mailserver, sw, "meeting-notice")

    # a worker is allocated: the next notice does reach Social Work
    command(network, WORKER_LINE, bot=bot)
    run_bot(bot)
    notice_email(network, lead, "Meeting notice CN1", date="3/2/2027", time="2.30pm")
    run_bot(bot)
    got, = of_kind(mailserver, sw, "meeting-notice", "CN1")
    ics = ics_of(got)
    assert "DTSTART;TZID=Europe/Dublin:20270203T143000" in ics
    assert f"mailto:{sw}" in ics


def test_notice_update_keeps_the_calendar_uid_and_raises_sequence(network, bot, mailserver, coded_case):
    lead = coded_case
    member = network.members[3][1]
    notice_email(network, lead, "Meeting notice CN1", date="20/01/2027")
    run_bot(bot)
    notice_email(network, lead, "Meeting notice CN1", date="21/01/2027")  # moved before it took place
    run_bot(bot)
    first, second = of_kind(mailserver, member, "meeting-notice", "CN1")
    uid1 = re.search(r"^UID:(.*)$", ics_of(first), re.M).group(1).strip()
    uid2 = re.search(r"^UID:(.*)$", ics_of(second), re.M).group(1).strip()
    assert uid1 == uid2
    assert "SEQUENCE:0" in ics_of(first) and "SEQUENCE:1" in ics_of(second)
    assert "20270121T103000" in ics_of(second)


def test_notice_for_unknown_code_or_with_the_name_gets_a_plain_reply_and_goes_nowhere(
        network, bot, mailserver, coded_case):
    lead = coded_case
    notice_email(network, lead, "Meeting notice CN77")
    notice_email(network, lead, "Meeting notice CN1", venue="Harvey Pemberton's house")
    run_bot(bot)
    replies = of_kind(mailserver, lead, "form-problem")
    assert len(replies) == 2
    texts = sorted(body(r) for r in replies)
    assert any("CN77" in t and "not on the Master List" in t for t in texts)
    assert any("name" in t for t in texts)
    for t in texts:
        assert "Traceback" not in t and "harvey" not in t.lower() and "pemberton" not in t.lower()
    for address in network.all_member_addresses:
        assert not of_kind(mailserver, address, "meeting-notice")


def test_notice_for_a_sibling_code(network, bot, mailserver):
    lead = network.members[1][1]
    network.send_referral(lead, SAMPLES / "S04-siblings-table.docx")
    run_bot(bot)
    assert {c.code for c in bot.store.open_cases()} == {"CN1A", "CN1B"}
    notice_email(network, lead, "Meeting notice cn1b")
    run_bot(bot)
    got, = of_kind(mailserver, network.members[6][1], "meeting-notice")
    assert got["X-Mailbot-Case"] == "CN1B"
    assert "CN1B" in re.search(r"^SUMMARY:(.*)$", ics_of(got), re.M).group(1)
    # the bare family number is ambiguous: refused plainly
    notice_email(network, lead, "Meeting notice CN1", date="22/01/2027")
    run_bot(bot)
    assert len(of_kind(mailserver, network.members[6][1], "meeting-notice")) == 1
    problem, = of_kind(mailserver, lead, "form-problem")
    assert "CN1A" in body(problem) and "CN1B" in body(problem)


# -- 4. exit and handover by command -------------------------------------------------------------------

def test_exit_closes_the_case_and_the_next_master_list_leaves_it_out(network, bot, mailserver, coded_case):
    member = network.members[5][1]
    first_list, = of_kind(mailserver, member, "master-list")
    assert "CN1" in master_list_cells(first_list)

    command(network, "EXIT CN1 no longer a concern", bot=bot)
    run_bot(bot)

    case = bot.store.get_case("CN1")
    assert case.status == "closed" and case.closed_on == "2027-01-10"
    for address in network.member_addresses + [network.coordinator]:
        closed, = of_kind(mailserver, address, "case-closed", "CN1")
        assert "CN1" in closed["Subject"]
        assert "harvey" not in email_everything(closed).lower()
    lists = of_kind(mailserver, member, "master-list")
    assert len(lists) == 2
    cells = master_list_cells(lists[-1])
    assert "CN1" not in cells and not any("Pemberton" in c for c in cells)
    reply, = of_kind(mailserver, network.coordinator, "command-reply")
    assert "closed" in body(reply)

    # a second EXIT changes nothing and tells nobody
    command(network, "EXIT CN1", bot=bot)
    run_bot(bot)
    assert len(of_kind(mailserver, member, "case-closed")) == 1
    assert len(of_kind(mailserver, member, "master-list")) == 2


def test_handover_by_command_changes_the_lead_agency(network, bot, mailserver, coded_case):
    new_agency, new_contact = network.members[6]
    command(network, f"HANDOVER CN1 TO {new_agency}", bot=bot)
    run_bot(bot)
    case = bot.store.get_case("CN1")
    assert case.lead_agency == new_agency and case.lead_contact == new_contact
    told, = of_kind(mailserver, network.members[2][1], "case-handover", "CN1")
    assert new_agency in body(told) and network.members[0][0] in body(told)
    lists = of_kind(mailserver, network.members[2][1], "master-list")
    assert len(lists) == 2
    assert new_agency in master_list_cells(lists[-1])
    # an unknown agency, or a name that fits several agencies, is refused: nothing changes
    command(network, "HANDOVER CN1 TO Nowhere Agency\nHANDOVER CN1 TO Lisnavar", bot=bot)
    run_bot(bot)
    assert bot.store.get_case("CN1").lead_agency == new_agency
    replies = of_kind(mailserver, network.coordinator, "command-reply")
    assert body(replies[-1]).lower().count("not done") == 2
    assert len(of_kind(mailserver, network.members[2][1], "case-handover")) == 1


# -- 3. minutes -----------------------------------------------------------------------------------------

YOUTHREACH = ("Lisnavar Youthreach", ("clodagh.taaffe@lisnavaryouthreach.ie", "helen.ventry@lisnavaryouthreach.ie"))


@pytest.fixture
def sample_network(private_mailserver, tmp_path):
    """The samples' own addresses (no suffix), on a mail server of this test's own, plus Lisnavar Youthreach."""
    from mailbot.config import MemberConfig

    net = TestNetwork(private_mailserver, tmp_path, suffix="")
    for address in YOUTHREACH[1]:
        private_mailserver.add_user(address)
    net.config.members = list(net.config.members) + [MemberConfig(YOUTHREACH[0], YOUTHREACH[1], False, True)]
    return net


@pytest.fixture
def sample_bot(sample_network):
    from mailbot.daemon import Bot
    from mailbot.store import Case

    b = Bot(sample_network.config, clock=lambda: NOW)
    b.store.add_case(Case(
        code="CN15", number=15, lead_agency="Lisnavar Community School", lead_contact="svarian@lisnavarcs.ie",
        referred_on="2027-01-04", sw_known=True, sw_open=True,
        person=record({"name": "Jayden Tansey", "first_name": "Jayden", "surname": "Tansey", "known_as": [],
                "other_surnames": [], "date_of_birth": "2012-05-03", "family": []})))
    b.store.add_case(Case(
        code="CN19", number=19, lead_agency="Lisnavar Family Support Service",
        lead_contact="joanne.weldon@lisnavarfss.ie", referred_on="2026-12-01",
        person=record({"name": "Kealan Morrissey", "first_name": "Kealan", "surname": "Morrissey", "known_as": [],
                "other_surnames": [], "date_of_birth": "2011-09-14", "family": []})))
    yield b
    b.close()


def _send_minutes(network, sender: str, name: str) -> bytes:
    raw = network.email_with(sender, "Minutes", attachments=[(name, (SAMPLES / name).read_bytes())])
    network.server.deliver_to_inbox(network.mailbox, raw, mail_from=sender)
    return raw


def test_minutes_are_coded_and_go_to_attendees_then_handover_minutes_change_the_lead(sample_network, sample_bot):
    net, bot, server = sample_network, sample_bot, sample_network.server
    truth = truth_for(SAMPLES / "minutes-2.docx")
    lead = "svarian@lisnavarcs.ie"
    _send_minutes(net, lead, "minutes-2.docx")
    run_bot(bot)

    attendees_in_directory = ["svarian@lisnavarcs.ie", "eamony@lisnavaroutreach.ie", "joanne.weldon@lisnavarfss.ie",
                              "fionnuala.webb@lisnavar-sw.ie"]
    for address in attendees_in_directory + [net.coordinator]:
        got, = of_kind(server, address, "minutes", "CN15")
        (name, data), = attachments(got)
        assert name == "CN15-minutes-2027-02-15.docx"
        xml = docx_xml(data)
        everything = email_everything(got).lower()
        for token in truth["protected_tokens"]:
            assert token.lower() not in xml.lower() and token.lower() not in everything, (address, token)
        for sentinel in truth["sentinels"]:
            assert sentinel in xml
        assert "CN15" in xml
        assert "2027" in body(got)
    # members who did not attend get nothing; nor does the bot reply "please set a date"
    assert not of_kind(server, "priya.lal@mv-childrens.example.net", "minutes")
    assert not of_kind(server, lead, "minutes-no-next-meeting")
    assert bot.store.get_case("CN15").next_meeting == "2027-03-01T15:30"
    assert bot.store.get_case("CN15").lead_agency == "Lisnavar Community School"

    # minutes-3: a handover to Lisnavar Youthreach, next meeting TBC
    fss = "joanne.weldon@lisnavarfss.ie"
    raw3 = _send_minutes(net, fss, "minutes-3.docx")
    run_bot(bot)
    case = bot.store.get_case("CN19")
    assert case.lead_agency == "Lisnavar Youthreach"
    assert case.lead_contact == "clodagh.taaffe@lisnavaryouthreach.ie"
    assert case.status == "open" and case.next_meeting is None
    for address in ["priya.lal@mv-childrens.example.net", "clodagh.taaffe@lisnavaryouthreach.ie", net.coordinator]:
        told, = of_kind(server, address, "case-handover", "CN19")
        assert "Lisnavar Youthreach" in body(told) and "Lisnavar Family Support Service" in body(told)
    # Social Work does not know CN19: no handover notice, no minutes
    assert not of_kind(server, "fionnuala.webb@lisnavar-sw.ie", "case-handover")
    assert not of_kind(server, "fionnuala.webb@lisnavar-sw.ie", "minutes", "CN19")
    for address in ["clodagh.taaffe@lisnavaryouthreach.ie", "helen.ventry@lisnavaryouthreach.ie",
                    "eamony@lisnavaroutreach.ie", fss, net.coordinator]:
        got, = of_kind(server, address, "minutes", "CN19")
        assert "kealan" not in email_everything(got).lower()
    ask, = of_kind(server, fss, "minutes-no-next-meeting", "CN19")
    assert "next meeting" in body(ask).lower() and "CN19" in ask["Subject"]
    # the Master List names the new lead agency
    lists = of_kind(server, "priya.lal@mv-childrens.example.net", "master-list")
    cells = master_list_cells(lists[-1])
    assert "Lisnavar Youthreach" in cells
    # the same email delivered again (same Message-ID): nothing is sent twice
    before = {a: len(server.fetch_all(a)) for a in ("eamony@lisnavaroutreach.ie", fss, net.coordinator)}
    server.deliver_to_inbox(net.mailbox, raw3, mail_from=fss)
    run_bot(bot)
    assert {a: len(server.fetch_all(a)) for a in before} == before
    assert server.count(net.mailbox, "INBOX") == 0


def test_minutes_for_an_unknown_case_are_refused_plainly(sample_network, sample_bot):
    net, bot, server = sample_network, sample_bot, sample_network.server
    sender = "joanne.weldon@lisnavarfss.ie"
    _send_minutes(net, sender, "minutes-1.docx")  # CN12 is not on record here
    run_bot(bot)
    problem, = of_kind(server, sender, "form-problem")
    text = body(problem)
    assert "CN12" in text and "not a case on the Master List" in text and "Traceback" not in text
    assert not of_kind(server, "eamony@lisnavaroutreach.ie", "minutes")
    assert server.count(net.mailbox, "Quarantine") == 1


def test_cancelled_notice_sends_a_calendar_cancel_for_the_same_meeting(network, bot, mailserver, coded_case):
    lead = coded_case
    member = network.members[4][1]
    notice_email(network, lead, "Meeting notice CN1", date="20/01/2027")
    run_bot(bot)
    text = ("Meeting notice CN1\nStatus: cancelled\nDate: 20/01/2027\nTime: 10:30\n"
            f"Venue: Marsden Vale Family Centre, Room 2\nOrganiser: Priya Lal, 01 555 0101, {lead}\n")
    mailserver.deliver_to_inbox(network.mailbox, network.email_with(lead, "Meeting cancelled", body=text),
                                mail_from=lead)
    run_bot(bot)
    invite, = of_kind(mailserver, member, "meeting-notice", "CN1")
    cancel, = of_kind(mailserver, member, "meeting-cancelled", "CN1")
    ics = ics_of(cancel)
    assert "METHOD:CANCEL" in ics and "STATUS:CANCELLED" in ics and "SEQUENCE:1" in ics
    uid = re.search(r"^UID:(.*)$", ics, re.M).group(1).strip()
    assert uid == re.search(r"^UID:(.*)$", ics_of(invite), re.M).group(1).strip()
    part, = [p for p in cancel.iter_attachments() if p.get_filename() == "invite.ics"]
    assert part.get_param("method") == "CANCEL"
    assert "cancelled" in cancel["Subject"].lower()
    assert bot.store.get_case("CN1").next_meeting is None


def test_detained_then_released_asks_the_lead_agency_for_a_meeting(network, bot, mailserver, coded_case):
    lead = coded_case
    command(network, "DETAINED CN1", bot=bot)
    run_bot(bot)
    assert bot.store.get_case("CN1").detained is True
    assert not of_kind(mailserver, lead, "released-reminder")
    command(network, "RELEASED CN1", bot=bot)
    run_bot(bot)
    assert bot.store.get_case("CN1").detained is False
    asked, = of_kind(mailserver, lead, "released-reminder", "CN1")
    assert "call a Network Case Meeting" in " ".join(body(asked).split())
    assert not of_kind(mailserver, network.members[1][1], "released-reminder")


def test_minutes_from_a_member_that_is_not_the_lead_agency_change_nothing(sample_network, sample_bot):
    """Issue 11, 6: only the lead agency's contacts (or a coordinator) act for a case."""
    net, bot, server = sample_network, sample_bot, sample_network.server
    other = "joanne.weldon@lisnavarfss.ie"  # a member, but CN15's lead is Lisnavar Community School
    _send_minutes(net, other, "minutes-2.docx")
    run_bot(bot)
    for address in ["svarian@lisnavarcs.ie", "eamony@lisnavaroutreach.ie", net.coordinator]:
        assert not of_kind(server, address, "minutes"), address
    case = bot.store.get_case("CN15")
    assert case.next_meeting is None and case.lead_agency == "Lisnavar Community School"
    refusal, = of_kind(server, other, "form-problem")
    assert "only come from its lead agency (Lisnavar Community School)" in " ".join(body(refusal).split())
    alert, = [m for m in of_kind(server, net.coordinator, "coordinator-alert") if "not-lead-agency" in m["Subject"]]
    assert server.count(net.mailbox, "Quarantine") == 1

    # the coordinator may send the same minutes: they go out and the next meeting is recorded
    _send_minutes(net, net.coordinator, "minutes-2.docx")
    run_bot(bot)
    got, = of_kind(server, "eamony@lisnavaroutreach.ie", "minutes", "CN15")
    assert bot.store.get_case("CN15").next_meeting == "2027-03-01T15:30"
    assert not of_kind(server, net.coordinator, "command-reply")


def test_a_handover_in_minutes_sent_by_the_coordinator_waits_for_confirmation(sample_network, sample_bot):
    """Minutes from the coordinator are passed on, but a handover (or exit) in them is a change of the case's
    standing: a forged coordinator From must not be able to make it, so it waits for the code."""
    from confirmhelp import latest_token, reply_confirm

    net, bot, server = sample_network, sample_bot, sample_network.server
    _send_minutes(net, net.coordinator, "minutes-3.docx")  # CN19: a handover to Lisnavar Youthreach
    run_bot(bot)
    got, = of_kind(server, "clodagh.taaffe@lisnavaryouthreach.ie", "minutes", "CN19")
    assert bot.store.get_case("CN19").lead_agency == "Lisnavar Family Support Service"
    assert not of_kind(server, "priya.lal@mv-childrens.example.net", "case-handover")
    request, = of_kind(server, net.coordinator, "command-confirm")
    assert "HANDOVER CN19 TO Lisnavar Youthreach" in body(request)

    reply_confirm(net, latest_token(server, net.coordinator))
    run_bot(bot)
    assert bot.store.get_case("CN19").lead_agency == "Lisnavar Youthreach"
    told, = of_kind(server, "priya.lal@mv-childrens.example.net", "case-handover", "CN19")
