"""End to end on the real Dovecot: coordinator commands take effect only once the coordinator confirms them.

An attacker is assumed able to make an email look as if it came from the coordinator (a forged From,
authentication aside). The one-time token goes only to the coordinator's configured address, so the
forged command changes nothing; the genuine, confirmed one works. Also: who may send minutes and
notices for a case, a coordinator's referral form, and the EXIT reason. Every person here is fictional.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
from datetime import datetime, timedelta, timezone

import pytest

from confirmhelp import confirmation_requests, latest_token, reply_confirm, send_command, token_of
from conftest import SAMPLES
from mailbot.sandbox.network import MASTER_LIST_PASSWORD, TestNetwork

pytestmark = pytest.mark.mailserver

NOW = datetime(2027, 1, 10, 9, 0, tzinfo=timezone.utc)


def run_bot(bot, timeout: float = 30.0) -> None:
    bot.drain_inbox_once()
    asyncio.run(bot.make_outbox().drain_until_empty(timeout))


def kinds(mailserver, address: str) -> list[str]:
    return [m["X-Mailbot-Kind"] for m in mailserver.fetch_all(address)]


def of_kind(mailserver, address: str, kind: str, code: str | None = None):
    return [m for m in mailserver.fetch_all(address)
            if m["X-Mailbot-Kind"] == kind and (code is None or m["X-Mailbot-Case"] == code)]


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def master_list_cells(msg) -> list[str]:
    import openpyxl

    from mailbot.casework.master_list import decrypt_workbook

    (enc,) = [p.get_content() for p in msg.iter_attachments()]
    wb = openpyxl.load_workbook(io.BytesIO(decrypt_workbook(enc, MASTER_LIST_PASSWORD)))
    return [str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]


def all_contacts(bot) -> set[str]:
    return {c for m in bot.ctx.cfg.members for c in m.contacts}


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def network(mailserver, tmp_path):
    net = TestNetwork(mailserver, tmp_path)
    net.outsider = mailserver.add_user(f"evil.{net.suffix}@attacker.test")
    return net


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def bot(network, clock):
    from mailbot.daemon import Bot

    b = Bot(network.config, clock=clock)
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


# -- 5. forged commands change nothing; the confirmed genuine one works ------------------------------

def test_forged_coordinator_command_changes_nothing_and_the_token_goes_only_to_the_configured_address(
        network, bot, mailserver, coded_case):
    evil = network.outsider
    member = network.members[3][1]
    lists_before = len(of_kind(mailserver, member, "master-list"))
    members_before = [(m.agency, m.contacts) for m in bot.ctx.cfg.members]
    # The From is the coordinator's (forged); Reply-To and the envelope are the attacker's.
    send_command(network, f"MEMBER ADD Evil Agency {evil}\nRESEND MASTER LIST\nEXIT CN1 closed by someone",
                 sender=network.coordinator, headers={"Reply-To": evil})
    run_bot(bot)

    assert mailserver.fetch_all(evil) == []                      # no Master List, no token, no reply
    assert [(m.agency, m.contacts) for m in bot.ctx.cfg.members] == members_before
    assert evil not in all_contacts(bot)
    assert len(of_kind(mailserver, member, "master-list")) == lists_before
    assert bot.store.get_case("CN1").status == "open"
    request, = confirmation_requests(mailserver, network.coordinator)
    assert request["To"] == network.coordinator and request["Cc"] is None and request["Reply-To"] is None
    text = body(request)
    assert f"MEMBER ADD Evil Agency {evil}" in text and "do not reply" in text
    assert not of_kind(mailserver, network.coordinator, "command-reply")

    # The attacker guesses tokens, and writes CONFIRM without one: each gets a plain reply, at the
    # configured address; nothing changes.
    reply_confirm(network, secrets.token_hex(16), sender=network.coordinator)
    send_command(network, "CONFIRM\n", sender=network.coordinator, subject="confirm")
    run_bot(bot)
    replies = of_kind(mailserver, network.coordinator, "command-reply")
    assert len(replies) == 2 and all("Nothing was changed" in body(r) for r in replies)
    assert mailserver.fetch_all(evil) == []
    assert evil not in all_contacts(bot)
    assert len(of_kind(mailserver, member, "master-list")) == lists_before
    assert bot.store.get_case("CN1").status == "open"
    assert [r["status"] for r in bot.store.pending_command_requests(None)] == ["pending"]


def test_genuine_confirmed_commands_run_once_and_a_replayed_token_changes_nothing(
        network, bot, mailserver, coded_case, caplog):
    caplog.set_level(logging.DEBUG, logger="mailbot")
    new_contact = network.server.add_user(f"intake.{network.suffix}@riverside-fs.example.net")
    member = network.members[3][1]
    lists_before = len(of_kind(mailserver, member, "master-list"))
    send_command(network, f"MEMBER ADD Riverside Family Support {new_contact}\nRESEND MASTER LIST\nHELP")
    run_bot(bot)
    request, = confirmation_requests(mailserver, network.coordinator)
    assert "Commands (one per line" in body(request)  # HELP needs no confirmation: answered at once
    assert new_contact not in all_contacts(bot)
    assert mailserver.fetch_all(new_contact) == []
    token = token_of(request)

    reply_confirm(network, token)  # a reply to the request: the token is in the quoted body
    run_bot(bot)
    assert new_contact in all_contacts(bot)
    got, = of_kind(mailserver, new_contact, "master-list")       # the new member has the Master List
    assert "CN1" in master_list_cells(got)
    assert len(of_kind(mailserver, member, "master-list")) == lists_before + 1
    done, = of_kind(mailserver, network.coordinator, "command-reply")
    assert done["To"] == network.coordinator
    assert "Confirmed" in body(done) and body(done).lower().count("done:") == 2

    # the same token again, in a new email (typed into the subject this time): used once, nothing changes
    reply_confirm(network, token, in_subject=True)
    run_bot(bot)
    assert len(of_kind(mailserver, member, "master-list")) == lists_before + 1
    assert len(of_kind(mailserver, new_contact, "master-list")) == 1
    replies = of_kind(mailserver, network.coordinator, "command-reply")
    assert len(replies) == 2 and "already used" in body(replies[-1])

    # never a token in the logs, nor in clear in the database files (the request is sealed in the outbox)
    assert not [r for r in caplog.records if r.name.startswith("mailbot") and token in r.getMessage()]
    for path in bot.cfg.data_dir.iterdir():
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path.name


def test_a_token_from_another_address_changes_nothing_and_is_cancelled(network, bot, mailserver, coded_case):
    """From a member (who got hold of the token), and from a second coordinator: refused, token cancelled."""
    second = network.server.add_user(f"deputy.coordinator.{network.suffix}@network.test")
    bot.ctx.cfg.coordinators.append(second)
    lead = coded_case
    new_agency = network.members[6][0]

    send_command(network, f"HANDOVER CN1 TO {new_agency}")
    run_bot(bot)
    token = latest_token(mailserver, network.coordinator)
    assert mailserver.fetch_all(second) == []  # the token went to the coordinator who sent the command only
    member = network.members[2][1]
    send_command(network, f"CONFIRM {token}\n", sender=member, subject="confirm")
    run_bot(bot)
    assert bot.store.get_case("CN1").lead_agency == network.members[0][0]
    refusal, = of_kind(mailserver, member, "form-problem")
    assert "Only the network coordinator can confirm" in body(refusal)
    assert not of_kind(mailserver, member, "case-handover")
    # the leaked token no longer works, even from its own coordinator
    reply_confirm(network, token)
    run_bot(bot)
    assert bot.store.get_case("CN1").lead_agency == network.members[0][0]
    assert "already used" in body(of_kind(mailserver, network.coordinator, "command-reply")[-1])

    # a second request, confirmed by the other coordinator: refused and cancelled, its owner told
    send_command(network, f"HANDOVER CN1 TO {new_agency}")
    run_bot(bot)
    token = latest_token(mailserver, network.coordinator)
    reply_confirm(network, token, sender=second)
    run_bot(bot)
    assert bot.store.get_case("CN1").lead_agency == network.members[0][0]
    answer, = of_kind(mailserver, second, "command-reply")
    assert "another coordinator address" in body(answer)
    assert "cancelled" in body(of_kind(mailserver, network.coordinator, "command-reply")[-1])
    reply_confirm(network, token)
    run_bot(bot)
    assert bot.store.get_case("CN1").lead_agency == network.members[0][0]
    assert not any(of_kind(mailserver, a, "case-handover") for a in (lead, member, network.coordinator))


def test_an_expired_token_changes_nothing(network, bot, mailserver, clock):
    new_contact = f"intake.{network.suffix}@riverside-fs.example.net"
    send_command(network, f"MEMBER ADD Riverside Family Support {new_contact}")
    run_bot(bot)
    request, = confirmation_requests(mailserver, network.coordinator)
    assert "24 hours" in body(request)
    clock.now = NOW + timedelta(hours=24, minutes=1)
    reply_confirm(network, token_of(request))
    run_bot(bot)
    assert new_contact not in all_contacts(bot)
    reply, = of_kind(mailserver, network.coordinator, "command-reply")
    assert "expired" in body(reply) and "Nothing was changed" in body(reply)


def test_two_pending_requests_and_a_case_closed_in_between(network, bot, mailserver, coded_case):
    """Confirming one request runs only its own commands; the other, confirmed after the case closed,
    changes nothing. The EXIT reason is recorded and shown to the coordinator (item 9)."""
    lead_agency = network.members[0][0]
    new_agency = network.members[6][0]
    send_command(network, f"HANDOVER CN1 TO {new_agency}")
    run_bot(bot)
    handover_token = latest_token(mailserver, network.coordinator)
    send_command(network, "EXIT CN1 no longer a concern, linked to adult services")
    run_bot(bot)
    exit_token = latest_token(mailserver, network.coordinator)
    assert exit_token != handover_token
    assert bot.store.get_case("CN1").status == "open" and bot.store.get_case("CN1").lead_agency == lead_agency

    # the coordinator's reply also writes a new command above the quote: it is not read
    send_command(network, f"HANDOVER CN1 TO {new_agency}\n\n> CONFIRM {exit_token}\n", subject="Re: confirm")
    run_bot(bot)
    case = bot.store.get_case("CN1")
    assert case.status == "closed" and case.lead_agency == lead_agency   # the handover did not run
    assert bot.store.exit_reason("CN1") == "no longer a concern, linked to adult services"
    assert any(r["event"] == "exit" and "linked to adult services" in r["reason"]
               for r in bot.store.audit_rows("CN1"))
    done = body(of_kind(mailserver, network.coordinator, "command-reply")[-1])
    assert "Reason recorded: no longer a concern, linked to adult services" in done
    assert "commands written in this email itself were not read" in " ".join(done.split())
    assert len(confirmation_requests(mailserver, network.coordinator)) == 2

    reply_confirm(network, handover_token)
    run_bot(bot)
    assert bot.store.get_case("CN1").lead_agency == lead_agency
    assert not of_kind(mailserver, network.members[2][1], "case-handover")
    assert "closed; nothing changed" in body(of_kind(mailserver, network.coordinator, "command-reply")[-1])


def test_an_exit_reason_with_the_young_persons_name_is_refused(network, bot, mailserver, coded_case):
    from conftest import truth_for
    from mailbot.handlers.commands import execute_commands

    first = truth_for(SAMPLES / "S01-table.docx")["young_people"][0]["name"].split()[0]
    # by email: the confirmation request would quote the name, so the last gate holds the whole email
    send_command(network, f"EXIT CN1 {first} moved away")
    run_bot(bot)
    assert not confirmation_requests(mailserver, network.coordinator)
    assert mailserver.count(network.mailbox, "Quarantine") == 1
    assert bot.store.get_case("CN1").status == "open" and bot.store.pending_command_requests(None) == []
    # on the shell (no token): refused, nothing recorded
    with bot.store.transaction():
        reply, ok = execute_commands(bot.ctx, f"EXIT CN1 {first} moved away", source="cli:test",
                                     actor=network.coordinator, confirmed=True)
    assert not ok and "holds a name on record" in reply
    assert bot.store.get_case("CN1").status == "open"
    assert bot.store.exit_reason("CN1") is None
    run_bot(bot)
    assert not of_kind(mailserver, network.members[2][1], "case-closed")


def test_mailbot_command_on_the_shell_needs_no_token(network, mailserver, tmp_path):
    from mailbot.daemon import Bot, run_coordinator_commands

    path = network.write_config()
    new_contact = f"intake.{network.suffix}@riverside-fs.example.net"
    assert run_coordinator_commands(path, f"MEMBER ADD Riverside Family Support {new_contact}") == 0
    b = Bot(network.config)
    try:
        assert new_contact in all_contacts(b)
        assert not confirmation_requests(mailserver, network.coordinator)
    finally:
        b.close()


# -- 6. minutes and notices only from the lead agency or a coordinator ---------------------------

def _notice(network, sender: str, *, cancelled: bool = False, date: str = "20/01/2027") -> None:
    status = "Status: cancelled\n" if cancelled else ""
    text = (f"Meeting notice CN1\n{status}Date: {date}\nTime: 10:30\nVenue: Marsden Vale Family Centre, Room 2\n"
            f"Organiser: Priya Lal, 01 555 0101, {sender}\n")
    raw = network.email_with(sender, "Meeting cancelled" if cancelled else "Meeting notice", body=text)
    network.server.deliver_to_inbox(network.mailbox, raw, mail_from=sender)


def test_a_notice_or_cancellation_from_another_member_changes_nothing(network, bot, mailserver, coded_case):
    lead = coded_case
    other = network.members[4][1]
    watcher = network.members[8][1]
    _notice(network, other)
    run_bot(bot)
    assert not of_kind(mailserver, watcher, "meeting-notice")
    assert bot.store.get_case("CN1").next_meeting is None
    refusal, = of_kind(mailserver, other, "form-problem")
    assert "only come from its lead agency" in body(refusal)
    assert any("not the lead agency" in m["Subject"] for m in of_kind(mailserver, network.coordinator,
                                                                     "coordinator-alert"))
    assert mailserver.count(network.mailbox, "Quarantine") == 1

    _notice(network, lead)                       # the lead agency's notice works
    run_bot(bot)
    assert len(of_kind(mailserver, watcher, "meeting-notice", "CN1")) == 1
    meeting = bot.store.get_case("CN1").next_meeting
    assert meeting.startswith("2027-01-20T10:30")

    _notice(network, other, cancelled=True)      # another member cannot cancel it
    run_bot(bot)
    assert not of_kind(mailserver, watcher, "meeting-cancelled")
    assert bot.store.get_case("CN1").next_meeting == meeting
    assert len(of_kind(mailserver, other, "form-problem")) == 2

    _notice(network, network.coordinator, cancelled=True)   # the coordinator can
    run_bot(bot)
    assert len(of_kind(mailserver, watcher, "meeting-cancelled", "CN1")) == 1
    assert bot.store.get_case("CN1").next_meeting is None


# -- 8. a referral form emailed by the coordinator ----------------------------------------------

def test_coordinator_referral_is_coded_for_the_agency_named_on_the_form(network, bot, mailserver):
    agency, contact = network.members[0]  # S01 names Marsden Vale Children's Services
    network.send_referral(network.coordinator, SAMPLES / "S01-table.docx")
    run_bot(bot)
    case, = bot.store.open_cases()
    assert (case.code, case.lead_agency, case.lead_contact) == ("CN1", agency, contact)
    for address in network.member_addresses[1:]:
        assert len(of_kind(mailserver, address, "coded-referral", "CN1")) == 1, address
    ack, = of_kind(mailserver, contact, "acknowledgement")
    assert "CN1" in ack["Subject"]
    assert of_kind(mailserver, network.coordinator, "coordinator-new-case")
    assert not of_kind(mailserver, network.coordinator, "command-reply")  # never "not a command"


def test_coordinator_referral_for_an_agency_that_is_not_a_member_gets_a_clear_answer(network, bot, mailserver):
    network.send_referral(network.coordinator, SAMPLES / "S02-paragraphs.docx")  # Marsden Vale Youth Hub
    run_bot(bot)
    assert bot.store.open_cases() == []
    assert not any(of_kind(mailserver, a, "coded-referral") for a in network.member_addresses[:3])
    answer, = of_kind(mailserver, network.coordinator, "form-problem")
    assert "does not match exactly one member agency" in " ".join(body(answer).split())
    assert not of_kind(mailserver, network.coordinator, "command-reply")
    assert mailserver.count(network.mailbox, "Quarantine") == 1


def test_commands_in_an_email_with_a_form_are_not_read_and_the_coordinator_is_told(network, bot, mailserver):
    raw = network.email_with(network.coordinator, "Referral and a command", body="RESEND MASTER LIST\n",
                             attachments=[("referral.docx", (SAMPLES / "S01-table.docx").read_bytes())])
    network.server.deliver_to_inbox(network.mailbox, raw, mail_from=network.coordinator)
    run_bot(bot)
    assert [c.code for c in bot.store.open_cases()] == ["CN1"]
    note, = of_kind(mailserver, network.coordinator, "command-reply")
    assert "the commands in it were not read" in " ".join(body(note).split())
    assert not confirmation_requests(mailserver, network.coordinator)


def test_an_out_of_office_reply_to_a_request_confirms_nothing(network, bot, mailserver, coded_case):
    """An attacker's forged command makes mailbot write to the coordinator; the coordinator's auto-reply
    comes back From the coordinator. It must not confirm: the code is never in the subject (which
    auto-replies quote), and marked or recognisable auto-replies are never acted on."""
    evil = network.outsider
    send_command(network, f"MEMBER ADD Evil Agency {evil}", headers={"Reply-To": evil})
    run_bot(bot)
    request, = confirmation_requests(mailserver, network.coordinator)
    token = token_of(request)
    # a localised out-of-office that quotes the subject only, and one that quotes everything but says it is automatic
    send_command(network, "Je suis absente.\n", subject="Réponse automatique : " + str(request["Subject"]))
    send_command(network, body(request), subject="Automatic reply: " + str(request["Subject"]),
                 headers={"Auto-Submitted": "auto-replied"})
    run_bot(bot)
    assert evil not in all_contacts(bot)
    assert mailserver.fetch_all(evil) == []
    assert [r["status"] for r in bot.store.pending_command_requests(None)] == ["pending"]
    assert token  # still unused: the coordinator can confirm it (or let it expire)


def test_a_line_with_hidden_direction_characters_is_not_offered_for_confirmation(network, bot, mailserver):
    # parses as an agency with a right-to-left override in its name: it would display reordered
    send_command(network, f"MEMBER ADD Hebble \u202eecivreS htuoY {network.outsider}\n")
    run_bot(bot)
    assert not confirmation_requests(mailserver, network.coordinator)
    reply, = of_kind(mailserver, network.coordinator, "command-reply")
    assert "invisible or direction-changing characters" in " ".join(body(reply).split())
    assert bot.store.pending_command_requests(None) == []
