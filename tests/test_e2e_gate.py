"""The last gate, end to end: an outgoing message that carries a young person's name never enters the
outbox (checked when queued; the coordinator is alerted without the name), and one that got into the
outbox another way is held there, sealed (encrypted) in the database, and never reaches the
recipient's mailbox (real Dovecot); no log line repeats the name; the encrypted Master List (which
holds the names, encrypted) goes through.

Every person here is fictional.
"""

from __future__ import annotations

import io
import logging

import pytest

from mailbot.mail.compose import DOCX_TYPE, Attachment
from mailbot.errors import LeakDetected
from conftest import deliver_outbox
from people import record

pytestmark = pytest.mark.mailserver

FIRST, SURNAME, NICK = "Tobias", "Quennell", "Tobster"
NAME_TOKENS = (FIRST, SURNAME, NICK)


def add_case(bot, network):
    from mailbot.store import Case

    store = bot.store
    with store.transaction():
        store.add_case(Case(
            code="CN1", number=store.allocate_case_number(), lead_agency=network.members[0][0],
            lead_contact=network.members[0][1], referred_on="2026-11-20",
            identity=store.vault.identity(f"{FIRST} {SURNAME}", "2012-03-04"),
            person=record({"name": f"{FIRST} {SURNAME}", "first_name": FIRST, "surname": SURNAME,
                    "known_as": [NICK], "other_surnames": [], "date_of_birth": "2012-03-04", "family": []})))
        store.mark_master_list_dirty()


def docx_with(text: str) -> bytes:
    import docx

    d = docx.Document()
    d.add_paragraph("Coded referral CN1")
    d.add_paragraph(text)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_a_named_message_is_held_and_the_master_list_passes(network, bot, mailserver, caplog):
    caplog.set_level(logging.DEBUG)
    add_case(bot, network)
    ctx = bot.ctx
    member = network.members[2][1]
    # ctx.queue refuses a message that names a child: it raises, so the handler's whole transaction
    # rolls back (nothing half-done) and the pipeline holds the email for the coordinator
    with pytest.raises(LeakDetected) as body_leak:
        with bot.store.transaction():
            # the name in the body (in capitals inside a sentence: still caught)
            ctx.queue(kind="coordinator-alert", rule_kind="coordinator_notice", template="coordinator-alert",
                      to=[member], values={"title": "[CN1] update", "details": f"Spoke to {SURNAME.upper()} today."},
                      source="gate-test-body", case_code="CN1")
    with pytest.raises(LeakDetected) as attachment_leak:
        with bot.store.transaction():
            # the name only inside the attached Word file
            ctx.queue(kind="coded-referral", rule_kind="coded_referral", template="coordinator-alert",
                      to=[member], values={"title": "[CN1] Coded referral", "details": "Attached."},
                      source="gate-test-attachment", case_code="CN1",
                      attachments=[Attachment("CN1-coded-referral.docx", DOCX_TYPE,
                                              docx_with(f"Also known as {NICK}; lives with an aunt."))])
    for err in (body_leak.value, attachment_leak.value):
        assert all(t.lower() not in str(err).lower() for t in NAME_TOKENS)
    with bot.store.transaction():
        # a clean message to the same member: goes through
        ctx.queue(kind="coordinator-alert", rule_kind="coordinator_notice", template="coordinator-alert",
                  to=[member], values={"title": "[CN1] meeting", "details": "The meeting is on Friday."},
                  source="gate-test-clean", case_code="CN1")
    # a named message that reaches the outbox without ctx.queue (the outbox's own check must stop it)
    from mailbot.mail.compose import Rendered, build_message
    from mailbot.store import OutboxItem

    direct = build_message(sender=network.mailbox, sender_name="Coordinator", to=[member],
                           rendered=Rendered("[CN1] note", f"About {FIRST} {SURNAME}.", "<p>note</p>"),
                           msg_id="<direct-named@network.test>", kind="note", case_code="CN1")
    bot.store.enqueue(OutboxItem(message_id="<direct-named@network.test>", kind="note", case_code="CN1",
                                   sender=network.mailbox, recipients=[member], raw=direct))
    from mailbot.pipeline import after_batch

    after_batch(ctx)  # the Master List: holds the name, encrypted
    deliver_outbox(bot)

    items = {it.message_id: it for it in bot.store.outbox_items()}
    # the two named messages queued through ctx.queue never entered the outbox
    assert not [it for it in items.values() if it.kind == "coded-referral"]
    assert [it.kind for it in items.values() if it.status == "held"] == ["note"]
    held = [it for it in items.values() if it.status == "held"]
    for it in held:
        assert it.last_error and all(t.lower() not in it.last_error.lower() for t in NAME_TOKENS)
    # the held message is sealed in the database (its row holds only ciphertext; the API decrypts it)
    import sqlite3

    with sqlite3.connect(network.config.store_path) as conn:
        (stored,) = conn.execute("SELECT raw FROM outbox WHERE status = 'held'").fetchone()
    assert bytes(stored).startswith(b"MAILBOT-HELD-V1") and SURNAME.encode() not in bytes(stored)
    assert SURNAME.encode() in held[0].raw
    # in the member's mailbox: the clean message and the Master List, nothing else
    got = mailserver.fetch_all(member)
    assert sorted(m["X-Mailbot-Kind"] for m in got) == ["coordinator-alert", "master-list"]
    assert [m["Subject"] for m in got if m["X-Mailbot-Kind"] == "coordinator-alert"] == ["mailbot: [CN1] meeting"]
    held_ids = {it.message_id for it in held}
    assert not held_ids & {m["Message-ID"] for m in got}
    # the Master List went to every member and is opaque (encrypted)
    for address in network.all_member_addresses:
        lists = [m for m in mailserver.fetch_all(address) if m["X-Mailbot-Kind"] == "master-list"]
        assert len(lists) == 1, address
        (att,) = list(lists[0].iter_attachments())
        data = att.get_content()
        assert SURNAME.encode() not in data and SURNAME.encode("utf-16-le") not in data

    # no log line names the young person
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        for token in NAME_TOKENS:
            assert token.lower() not in text.lower(), (record.name, text)
    assert any("held" in r.getMessage() for r in caplog.records), "the hold is logged (without the name)"
    assert any("not queued" in r.getMessage() for r in caplog.records)


def test_gate_failure_fails_closed(network, bot, mailserver, monkeypatch):
    """If the check itself cannot run, the message is held, not sent."""
    add_case(bot, network)
    member = network.members[3][1]
    with bot.store.transaction():
        bot.ctx.queue(kind="coordinator-alert", rule_kind="coordinator_notice", template="coordinator-alert",
                      to=[member], values={"title": "[CN1] meeting", "details": "Friday."}, source="gate-broken")
    import mailbot.gate as gate_module

    def broken(self, raw, **kw):
        raise RuntimeError("the gate is broken")

    monkeypatch.setattr(gate_module.Gate, "check_message", broken)
    deliver_outbox(bot)
    assert [it.status for it in bot.store.outbox_items()] == ["held"]
    assert mailserver.count(member) == 0


def test_a_referral_naming_another_child_on_record_is_held_whole(network, bot, mailserver):
    """The form's own names are stripped and verified; the name of a child already on the Master List
    that appears in it is not on this form, so the stripper cannot know it: the recall check (a word
    that looks like a name) holds the referral for the coordinator before anything is queued, and the
    gate would stop it at queue time if it were released. Nothing of that referral reaches a member;
    the referrer is told it is being checked (issue 10 item 13)."""
    import zipfile

    from conftest import SAMPLES, run_bot_until_idle

    network.send_referral(network.members[0][1], SAMPLES / "S01-table.docx")  # Harvey Pemberton -> CN1
    run_bot_until_idle(bot)
    before = {a: mailserver.count(a) for a in network.all_member_addresses}
    # a second form (another child) whose concerns mention the first child by name
    src = SAMPLES / "S02-paragraphs.docx"
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(b"has noticed weight loss", b"has noticed weight loss since Harvey Pemberton left", 1)
            zout.writestr(info, data)
    referrer = network.members[1][1]
    network.send_referral(referrer, out.getvalue())
    run_bot_until_idle(bot)

    assert [c.code for c in bot.store.open_cases()] == ["CN1"], "no half-done second case"
    after = {a: mailserver.count(a) for a in network.all_member_addresses}
    assert {a: n for a, n in after.items() if a != referrer} == {a: n for a, n in before.items() if a != referrer}
    got = [m["X-Mailbot-Kind"] for m in mailserver.fetch_all(referrer)][before[referrer]:]
    assert got == ["referral-held"], got
    alerts = [m for m in mailserver.fetch_all(network.coordinator) if "held for your review" in m["Subject"]]
    assert len(alerts) == 1
    body = alerts[0].get_body(("plain",)).get_content()
    for token in ("harvey", "pemberton", "isla", "whitcombe"):
        assert token not in body.lower()
    # released as it is, the gate at queue time still stops it whole: nothing reaches the members
    hid = bot.store.held_forms()[0]["id"]
    from mailbot.handlers.held import release

    with bot.store.transaction():
        reply = release(bot.ctx, hid, "checked")
    assert "Nothing was sent" in reply, reply
    run_bot_until_idle(bot)
    after2 = {a: mailserver.count(a) for a in network.all_member_addresses}
    assert {a: n for a, n in after2.items() if a != referrer} == {a: n for a, n in before.items() if a != referrer}
