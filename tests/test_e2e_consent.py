"""End to end on the real Dovecot (issue 12 items 3-5): a referral without parental consent waits for the
coordinator's CONSENT decision; a closed case's record is purged after its retention period; a sensitive
service is "an unspecified service" in what the other members receive. Every person here is fictional.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
from datetime import datetime, timedelta, timezone

import openpyxl
import pytest
from docx import Document

from confirmhelp import latest_token, reply_confirm, send_command
from mailbot.casework.master_list import decrypt_workbook
from mailbot.config import parse_config
from mailbot.sandbox.network import MASTER_LIST_PASSWORD

pytestmark = pytest.mark.mailserver

NAMES = ["Tamsin", "Quarrendon"]


def run_bot(bot, timeout: float = 30.0) -> None:
    bot.drain_inbox_once()
    asyncio.run(bot.make_outbox().drain_until_empty(timeout))


def form(*, consent_rows=(), consent_paras=(), agency="Harbourside Youth Project",
         referrer=("Ines Varga", "ines.varga@harbourside.example.org")) -> bytes:
    doc = Document()
    doc.add_paragraph("Network Referral Form")
    doc.add_paragraph("Section A – About the young person")
    t = doc.add_table(rows=0, cols=2)
    for label, value in (("Name of young person", "Tamsin Quarrendon"), ("Date of birth", "14/02/2012"),
                         ("Gender", "Female"), ("School", "Thornfield Community School")):
        cells = t.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.add_paragraph("Section D – Reasons for referral")
    doc.add_paragraph("Tamsin has missed eleven days of school this term.", style="List Bullet")
    doc.add_paragraph("Section C – Referrer")
    r = doc.add_table(rows=0, cols=2)
    for label, value in (("Referring agency", agency), ("Referrer name", referrer[0]), ("Email", referrer[1]),
                         ("Date of referral", "20 November 2026")):
        cells = r.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.add_paragraph("Section F – Consent and Social Work")
    for p in consent_paras:
        doc.add_paragraph(p)
    if consent_rows:
        c = doc.add_table(rows=0, cols=2)
        for label, value in consent_rows:
            cells = c.add_row().cells
            cells[0].text, cells[1].text = label, value
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def of_kind(mailserver, address, kind):
    return [m for m in mailserver.fetch_all(address) if m["X-Mailbot-Kind"] == kind]


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def master_list_rows(msg) -> dict:
    (data,) = [p.get_content() for p in msg.iter_attachments()]
    ws = openpyxl.load_workbook(io.BytesIO(decrypt_workbook(data, MASTER_LIST_PASSWORD))).active
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=5)]
    return {r[0]: r for r in rows if r[0]}


def confirmed(network, bot, mailserver, line: str) -> None:
    send_command(network, line)
    run_bot(bot)
    reply_confirm(network, latest_token(mailserver, network.coordinator))
    run_bot(bot)


def test_no_consent_waits_for_the_coordinator_then_override_distributes(network, bot, mailserver):
    referrer = network.members[0][1]
    others = [a for a in network.member_addresses if a != referrer]
    network.send_referral(referrer, form(consent_rows=[("Has parental consent been obtained?", "☐ Yes ☒ No")]))
    run_bot(bot)

    # held: no member receives the coded referral or a Master List row; nothing is on record as a case
    for a in others + [network.social_work[1]]:
        assert of_kind(mailserver, a, "coded-referral") == [] and of_kind(mailserver, a, "master-list") == []
    assert bot.store.get_case("CN1") is None
    assert [m["X-Mailbot-Kind"] for m in mailserver.fetch_all(referrer)] == ["consent-waiting"]
    (alert,) = [m for m in mailserver.fetch_all(network.coordinator)
                if str(m["Subject"]).endswith("[CN1] referral waiting for a consent decision")]
    body = text_of(alert)
    assert "CONSENT CN1 OVERRIDE <reason>" in body and "CONSENT CN1 WITHDRAW" in body
    assert not any(n in body for n in NAMES)

    # the decision waits for the coordinator's confirmation
    send_command(network, "CONSENT CN1 OVERRIDE risk of significant harm; the Garda liaison agrees")
    run_bot(bot)
    assert of_kind(mailserver, others[0], "coded-referral") == []
    reply_confirm(network, latest_token(mailserver, network.coordinator))
    run_bot(bot)

    for a in others:
        (got,) = of_kind(mailserver, a, "coded-referral")
        (data,) = [p.get_content() for p in got.iter_attachments()]
        text = " ".join(p.text for p in Document(io.BytesIO(data)).paragraphs)
        assert "CN1 has missed eleven days" in text and not any(n in text for n in NAMES)
    for a in others[:2]:
        (ml,) = of_kind(mailserver, a, "master-list")
        assert master_list_rows(ml)["CN1"][1] == "Tamsin Quarrendon"
    assert of_kind(mailserver, network.social_work[1], "coded-referral") == []
    assert [m["X-Mailbot-Kind"] for m in mailserver.fetch_all(referrer)].count("acknowledgement") == 1
    reasons = [r["reason"] for r in bot.store.audit_rows("CN1") if r["event"] == "decision"]
    assert any("risk of significant harm" in r for r in reasons)
    assert bot.store.case_consent("CN1")["parental"] == "overridden"

    # a second decision on the same referral changes nothing
    confirmed(network, bot, mailserver, "CONSENT CN1 WITHDRAW")
    assert bot.store.get_case("CN1").status == "open"
    assert "already decided" in text_of([m for m in mailserver.fetch_all(network.coordinator)
                                         if m["X-Mailbot-Kind"] == "command-reply"][-1])


class Clock:
    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def test_withdraw_shares_nothing_and_the_record_is_purged_after_its_period(network, mailserver):
    from mailbot.daemon import Bot
    from mailbot.jobs.digest import send_digest
    from mailbot.jobs.master_list import send_master_list_if_changed

    clock = Clock(datetime(2026, 11, 23, 10, 5, tzinfo=timezone.utc))
    bot = Bot(network.config, clock=clock)
    try:
        referrer = network.members[2][1]
        network.send_referral(referrer, form(consent_paras=["Consent: not sought — young person is 17"]))
        run_bot(bot)
        assert of_kind(mailserver, referrer, "consent-waiting")
        confirmed(network, bot, mailserver, "CONSENT CN1 WITHDRAW")

        # nothing about it reaches any member; the referrer is told; the case is closed, never listed
        for a in network.all_member_addresses:
            if a != referrer:
                assert mailserver.fetch_all(a) == [], a
        assert [m["X-Mailbot-Kind"] for m in mailserver.fetch_all(referrer)] == ["consent-waiting",
                                                                                "consent-withdrawn"]
        case = bot.store.get_case("CN1")
        assert case.status == "closed" and case.person.name == "Tamsin Quarrendon"

        # within the period nothing is purged; the day after it ends, the names go (the daily job)
        clock.t += timedelta(days=300)
        assert send_digest(bot.ctx, clock()) == 1
        assert bot.store.get_case("CN1").person.name == "Tamsin Quarrendon"
        clock.t += timedelta(days=66)
        assert send_digest(bot.ctx, clock()) == 1
        asyncio.run(bot.make_outbox().drain_until_empty(30))
        from mailbot.jobs.retention import purge_closed_cases
        assert purge_closed_cases(bot.ctx, clock()) == []  # idempotent

        db = sqlite3.connect(network.config.store_path)
        row = db.execute("SELECT code, status, closed_on, person_enc, sw_worker_enc, identity FROM cases").fetchone()
        assert row[:3] == ("CN1", "closed", "2026-11-23") and row[3:] == (None, None, "")
        assert db.execute("SELECT length(sealed) FROM consent_holds").fetchall() == [(0,)]
        requests = [bot.store.pending_commands(th)["lines"] for (th,) in db.execute(
            "SELECT token_hash FROM pending_commands")]
        assert requests and not any("CONSENT" in line for lines in requests for line in lines), requests
        assert bot.store.get_case("CN1").person is None
        events = {r["event"] for r in bot.store.audit_rows("CN1")}
        assert {"held", "decision", "purged"} <= events
        db.close()

        digests = of_kind(mailserver, network.coordinator, "digest")
        assert "PURGED" not in text_of(digests[0])
        last = text_of(digests[-1])
        assert "CLOSED CASES PURGED AFTER THE RETENTION PERIOD" in last and "CN1" in last and "23/11/2026" in last

        # it never comes back on the Master List
        send_master_list_if_changed(bot.ctx, force=True)
        asyncio.run(bot.make_outbox().drain_until_empty(30))
        (ml,) = of_kind(mailserver, network.coordinator, "master-list")
        assert "CN1" not in master_list_rows(ml)
    finally:
        bot.close()


def test_a_sensitive_service_is_an_unspecified_service_to_the_other_members(network, mailserver):
    from mailbot.daemon import Bot

    service, address = network.members[11]  # Ashgrove Mental Health Team
    for m in network.raw_config["members"]:
        if m["agency"] == service:
            m["sensitive"] = True
    network.config = parse_config(network.raw_config, base=network.dir)
    other = network.members[4][1]
    bot = Bot(network.config)
    try:
        network.send_referral(address, form(
            agency=service, referrer=("Dr Wren Oakes", address),
            consent_rows=[("Has parental consent been obtained?", "☒ Yes ☐ No")]))
        run_bot(bot)

        # the Master List: the others' copy hides the lead agency, the service's and the coordinator's do not
        assert master_list_rows(of_kind(mailserver, other, "master-list")[0])["CN1"][3:5] == \
            ["an unspecified service", "an unspecified service"]
        for who in (address, network.coordinator):
            assert master_list_rows(of_kind(mailserver, who, "master-list")[0])["CN1"][3:5] == [service, address]
        # the coded referral the others receive names no sensitive service, in the email or the form
        (coded,) = of_kind(mailserver, other, "coded-referral")
        (data,) = [p.get_content() for p in coded.iter_attachments()]
        seen = text_of(coded) + " ".join(c.text for t in Document(io.BytesIO(data)).tables
                                         for row in t.rows for c in row.cells)
        assert "an unspecified service" in seen
        assert "Ashgrove" not in seen and "Wren Oakes" not in seen and address not in seen

        # a meeting notice from the service: the others see an unspecified service; the coordinator the agency
        notice = network.email_with(address, "Meeting notice CN1", body=(
            "Case: CN1\nDate: 15/02/2027\nTime: 15:30\nVenue: Ashgrove Mental Health Team, Clinic Road\n"
            f"Organiser: Wren Oakes, 087 765 4321, {address}\nType: assessment\n"))
        network.server.deliver_to_inbox(network.mailbox, notice, mail_from=address)
        run_bot(bot)
        (got,) = of_kind(mailserver, other, "meeting-notice")
        body = text_of(got)
        ics = [p.get_content() for p in got.iter_attachments()][0]
        ics = ics.decode() if isinstance(ics, bytes) else ics
        assert "Lead agency: an unspecified service" in body and "Clinic Road" in body
        for leak in ("Ashgrove", "Wren Oakes", "765 4321", address):
            assert leak not in body and leak not in ics, leak
        (mine,) = of_kind(mailserver, network.coordinator, "meeting-notice")
        assert f"Lead agency: {service}" in text_of(mine) and "Wren Oakes" in text_of(mine)
    finally:
        bot.close()
