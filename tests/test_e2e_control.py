"""End to end on the real Dovecot: the coordinator sees and steers mailbot by email (issue 12 items 1-2)
and from the server's shell with the same answers.

STATUS and CASE answer with case codes only; a held outgoing email is released and reaches its
recipient; a referral from an address that was not yet a member, quarantined, is handled again after
MEMBER ADD (REPROCESS) and ends as a coded referral in the members' mailboxes. Every person here is
fictional.
"""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
import time
import zipfile

import pytest

from confirmhelp import latest_token, reply_confirm, send_command
from conftest import SAMPLES, truth_for
from leakcheck import find_leaks

pytestmark = pytest.mark.mailserver


def run_bot(bot, timeout: float = 30.0) -> None:
    bot.drain_inbox_once()
    asyncio.run(bot.make_outbox().drain_until_empty(timeout))


def replies(mailserver, address: str) -> list[str]:
    return [m.get_body(("plain",)).get_content().replace("\r\n", "\n") for m in mailserver.fetch_all(address)
            if m["X-Mailbot-Kind"] == "command-reply"]


def of_kind(mailserver, address: str, kind: str):
    return [m for m in mailserver.fetch_all(address) if m["X-Mailbot-Kind"] == kind]


def text_leaks(text: str, truth: dict) -> list:
    """The independent oracle (tests/leakcheck.py) over a plain text, as one part of a zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("reply.txt", text)
    people = truth["young_people"] + truth["family"]
    from leakcheck import joined_forms

    return find_leaks(buf.getvalue(), truth["protected_tokens"], joined=joined_forms(people),
                      ordinary=truth.get("ordinary_word_tokens", []))


def block(reply: str, line: str) -> str:
    """The answer to one command line in a reply (format_reply: '> line', then the outcome)."""
    start = reply.index(f"> {line}\n")
    end = reply.find("\n\n> ", start + 1)
    tail = reply.find("\n\n(Send HELP", start)
    ends = [e for e in (end, tail) if e >= 0]
    return reply[start:min(ends)] if ends else reply[start:]


def test_status_and_case_answer_with_codes_only_and_the_shell_gives_the_same(network, bot, mailserver, capsys):
    truth = truth_for(SAMPLES / "S01-table.docx")
    network.send_referral(network.members[0][1], SAMPLES / "S01-table.docx")
    run_bot(bot)
    assert [c.code for c in bot.store.open_cases()] == ["CN1"]

    # the shell first, then the same by email: nothing changes in between (the running bot records its
    # contact with the IMAP server at most every 30 s)
    config = network.write_config()
    shell = subprocess.run([sys.executable, "-m", "mailbot.cli", "command", "-c", str(config), "STATUS"],
                           capture_output=True, text=True, timeout=60)
    assert shell.returncode == 0, shell.stderr
    send_command(network, "STATUS\nCASE CN1\nLIST OPEN\nMEMBERS\nHELD\nCASE Harvey\nSTATUS now")
    run_bot(bot)

    (reply,) = replies(mailserver, network.coordinator)
    # answered at once (read-only: no confirmation asked)
    assert of_kind(mailserver, network.coordinator, "command-confirm") == []
    status = block(reply, "STATUS")
    assert "Open cases: 1 (CN1)" in status
    assert re.search(r"Emails waiting to be sent: \d+ \(pending", status)
    assert "Held for you: nothing." in status
    assert re.search(r"Last contact with the incoming mail server \(IMAP\): \w{3} \d\d/\d\d/\d{4}", status)
    assert re.search(r"Last contact with the outgoing mail server \(SMTP\): \w{3} \d\d/\d\d/\d{4}", status)
    assert "Next digest: " in status and "Next reminder" in status
    case = block(reply, "CASE CN1")
    assert "CN1: open, referred on" in case
    assert "Lead agency: Marsden Vale Children's Services" in case
    assert "Social Work: not checked yet" in case and "Meetings: none called yet" in case
    # the next reminder, from the case's facts (jobs.case_views) and rules/reminders.toml
    assert re.search(r"Next reminder: \w{3} \d\d/\d\d/\d{4} 09:00, no meeting called yet \(to "
                     + re.escape(network.members[0][1]) + r"\)", case), case
    assert "CN1  lead: Marsden Vale Children's Services" in block(reply, "LIST OPEN")
    members = block(reply, "MEMBERS")
    assert "13 member agencies:" in members and "Lisnavar Social Work Team [Social Work]" in members
    assert "Nothing is held or quarantined." in block(reply, "HELD")
    # a malformed line gets a plain answer; a name is never looked up
    assert "not done: The case code must come right after CASE" in reply
    assert "not done: STATUS takes nothing after it" in reply
    assert "not repeated here" in reply and text_leaks(reply, truth) == []

    # the shell gives the same answer, word for word
    assert shell.stdout.startswith("> STATUS\ndone: \n")
    assert block(shell.stdout, "STATUS") == status
    assert text_leaks(shell.stdout, truth) == []

    # `mailbot status` prints the same text without the quoting (in this process: the same code path)
    from mailbot.cli import main

    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0
    alone = capsys.readouterr().out.strip("\n").splitlines()
    by_email = status.split("done: \n", 1)[1].splitlines()
    # (the one email sent since, the reply itself, is counted: every other line is the same)
    assert [a.split(":")[0] for a in alone] == [b.split(":")[0] for b in by_email]
    assert alone[0] == by_email[0] == "Open cases: 1 (CN1)"


def test_a_held_outgoing_email_is_released_and_delivered(network, bot, mailserver, monkeypatch):
    member = network.members[3][1]
    with bot.store.transaction():
        bot.ctx.queue(kind="coordinator-alert", rule_kind="coordinator_notice", template="coordinator-alert",
                      to=[member], values={"title": "meeting moved", "details": "The meeting is on Friday."},
                      source="control-test")
    import mailbot.gate as gate_module

    def broken(self, raw, **kw):
        raise RuntimeError("the gate is broken")

    with monkeypatch.context() as m:  # the check cannot run: the email is held, not sent
        m.setattr(gate_module.Gate, "check_message", broken)
        asyncio.run(bot.make_outbox().drain_until_empty(30))
    (held,) = [i for i in bot.store.outbox_items() if i.status == "held"]
    assert mailserver.count(member) == 0

    send_command(network, "HELD\nSTATUS")
    run_bot(bot)
    listing = replies(mailserver, network.coordinator)[-1]
    assert f"O{held.id}  coordinator-alert to {member}" in listing
    assert "the outbound check could not run" in listing
    assert f"RELEASE O{held.id} <reason> or DISCARD O{held.id}" in listing
    assert f"1 outgoing email (O{held.id})" in block(listing, "STATUS")
    assert "Last error: " in listing and f"outgoing email O{held.id} (coordinator-alert) held" in listing

    send_command(network, f"RELEASE O{held.id} the check failed, not the message")
    run_bot(bot)
    assert mailserver.count(member) == 0, "waits for the confirmation"
    reply_confirm(network, latest_token(mailserver, network.coordinator))
    run_bot(bot)

    (got,) = mailserver.fetch_all(member)
    assert got["Message-ID"] == held.message_id and "The meeting is on Friday." in got.get_body(("plain",)).get_content()
    assert bot.store.get_outbox_item(held.id).status == "sent"
    released = [r for r in bot.store.audit_rows() if r["event"] == "released"]
    assert released and "the check failed, not the message" in released[-1]["reason"]
    assert "released: it goes to" in replies(mailserver, network.coordinator)[-1]

    # once sent it is not held: a second release changes nothing
    from mailbot.handlers.commands import execute_commands

    with bot.store.transaction():
        again, ok = execute_commands(bot.ctx, f"RELEASE O{held.id} again", source="test", actor="shell",
                                     confirmed=True)
    assert not ok and f"O{held.id} is not held (it is sent)" in again


def test_a_quarantined_referral_from_a_new_member_is_reprocessed_after_member_add(network, bot, mailserver):
    truth = truth_for(SAMPLES / "S02-paragraphs.docx")
    newcomer = mailserver.add_user(f"duty.{network.suffix}@riverside-fs.example")
    network.send_referral(newcomer, SAMPLES / "S02-paragraphs.docx")
    run_bot(bot)
    assert bot.store.open_cases() == []
    assert mailserver.count(network.mailbox, "Quarantine") == 1
    assert mailserver.fetch_all(newcomer) == [], "a stranger is never answered"

    send_command(network, "HELD")
    run_bot(bot)
    listing = replies(mailserver, network.coordinator)[-1]
    # an address outside the directory is shown (and kept) only as a pseudonym: it can hold a name
    assert newcomer not in listing
    m = re.search(r"(Q\d+)  from \(an address outside the network, #[0-9a-f]{16}\), since .*?: quarantined: (.+)",
                  listing)
    assert m, listing
    qid = m.group(1)
    assert f"REPROCESS {qid} or DISCARD {qid}" in listing

    send_command(network, f"MEMBER ADD Riverside Family Support {newcomer}\nREPROCESS {qid}")
    run_bot(bot)
    assert bot.store.open_cases() == [], "both wait for the confirmation"
    reply_confirm(network, latest_token(mailserver, network.coordinator))
    run_bot(bot)  # confirmed: the member is added, the email moves back to the inbox and is handled afresh

    assert [c.code for c in bot.store.open_cases()] == ["CN1"]
    assert bot.store.get_case("CN1").lead_agency == "Riverside Family Support"
    for address in network.member_addresses:
        (coded,) = of_kind(mailserver, address, "coded-referral")
        assert coded["X-Mailbot-Case"] == "CN1"
        (data,) = [p.get_content() for p in coded.iter_attachments()]
        assert find_leaks(data, truth["protected_tokens"], ordinary=truth.get("ordinary_word_tokens", [])) == []
    assert of_kind(mailserver, network.social_work[1], "coded-referral") == []
    assert "acknowledgement" in [m["X-Mailbot-Kind"] for m in mailserver.fetch_all(newcomer)]
    assert mailserver.count(network.mailbox, "Quarantine") == 0
    assert bot.store.reprocess_requests() == {}
    confirmed = replies(mailserver, network.coordinator)[-1]
    assert f"goes back to the inbox" in confirmed and text_leaks(confirmed, truth) == []

    # handled once: asking again changes nothing
    from mailbot.handlers.commands import execute_commands

    with bot.store.transaction():
        again, ok = execute_commands(bot.ctx, f"REPROCESS {qid}", source="test", actor="shell", confirmed=True)
    assert not ok and "is not in quarantine (it was accepted)" in again
    run_bot(bot)
    assert len(of_kind(mailserver, network.members[1][1], "coded-referral")) == 1


def test_reprocess_survives_a_crash_after_the_move_and_an_email_deleted_by_hand_is_listed_again(
        network, bot, mailserver):
    """Crash-safety of REPROCESS: the watcher marks 'moving' before the MOVE; found in the inbox instead of
    Quarantine (a crash after the MOVE), it is handled once; found nowhere, it is listed again and the
    coordinator told."""
    from mailbot.handlers.commands import execute_commands

    newcomer = mailserver.add_user(f"intake.{network.suffix}@harbour-fs.example")
    network.send_referral(newcomer, SAMPLES / "S01-table.docx")
    run_bot(bot)
    (q,) = bot.store.quarantined_messages()
    with bot.store.transaction():  # the server's shell: no confirmation
        out, ok = execute_commands(bot.ctx, f"MEMBER ADD Harbour Family Service {newcomer}\nREPROCESS Q{q['rowid']}",
                                   source="test", actor="shell", confirmed=True)
    assert ok, out
    # the crash: the MOVE happened (done here by hand), the 'moved' mark did not
    bot.store.set_reprocess_state(q["key"], "moving")
    client = mailserver.imap(network.mailbox)
    try:
        client.select_folder("Quarantine")
        client.move(client.search("ALL"), "INBOX")
    finally:
        client.logout()
    run_bot(bot)
    assert [c.code for c in bot.store.open_cases()] == ["CN1"]
    assert len(of_kind(mailserver, network.members[2][1], "coded-referral")) == 1
    assert bot.store.reprocess_requests() == {}

    # an email asked for but deleted from Quarantine by hand: nothing happens, it is listed again
    network.send_referral(mailserver.add_user(f"other.{network.suffix}@elsewhere.example"),
                          SAMPLES / "S02-paragraphs.docx")
    run_bot(bot)
    (q2,) = bot.store.quarantined_messages()
    with bot.store.transaction():
        execute_commands(bot.ctx, f"REPROCESS Q{q2['rowid']}", source="test2", actor="shell", confirmed=True)
    assert bot.store.quarantined_messages() == []  # waiting to be handled again
    client = mailserver.imap(network.mailbox)
    try:
        client.select_folder("Quarantine")
        client.delete_messages(client.search("ALL"))
        client.expunge()
    finally:
        client.logout()
    run_bot(bot)
    assert [m["rowid"] for m in bot.store.quarantined_messages()] == [q2["rowid"]]
    assert bot.store.reprocess_requests() == {}
    told = [m for m in of_kind(mailserver, network.coordinator, "coordinator-alert")
            if f"Q{q2['rowid']} could not be handled again" in str(m["Subject"])]
    assert len(told) == 1
    assert [c.code for c in bot.store.open_cases()] == ["CN1"]


def test_the_daily_job_purges_what_was_held_too_long_and_the_digest_says_so(network, bot, mailserver):
    from datetime import datetime, timezone

    from mailbot.jobs.digest import send_digest
    from mailbot.mail.compose import Rendered, build_message
    from mailbot.store import OutboxItem

    member = network.members[4][1]
    raw = build_message(sender=network.mailbox, sender_name="Coordinator", to=[member],
                        rendered=Rendered("[CN9] note", "held long ago", "<p>held long ago</p>"),
                        msg_id="<old-held@network.test>", kind="note", case_code="CN9")
    bot.store.enqueue(OutboxItem(message_id="<old-held@network.test>", kind="note", case_code="CN9",
                                   sender=network.mailbox, recipients=[member], raw=raw),
                      now=time.time() - 31 * 86400)
    (old,) = bot.store.outbox_items()
    bot.store.mark_held(old.id, "the outbound check could not run (RuntimeError)")
    assert send_digest(bot.ctx, datetime.now(timezone.utc)) == 1
    asyncio.run(bot.make_outbox().drain_until_empty(30))
    (digest,) = of_kind(mailserver, network.coordinator, "digest")
    text = digest.get_body(("plain",)).get_content()
    assert "HELD TOO LONG: REMOVED UNSENT" in text and f"O{old.id} (note, CN9)" in text
    item = bot.store.get_outbox_item(old.id)
    assert item.status == "failed" and item.raw == b"" and item.last_error.startswith("purged: ")
    assert mailserver.count(member) == 0
    assert bot.store.purged_unreported() == []  # reported once
