"""End to end on the real Dovecot: what lands in members' inboxes (issue 13 items 1-3).

A burst of referrals gives at most one Master List per member per window, with a change line;
a superseded Master List is never delivered; replies thread; meeting notices carry Reply-To,
List-Id and a calendar alternative. Every person and agency here is fictional.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from conftest import SAMPLES, deliver_outbox

pytestmark = pytest.mark.mailserver

SAMPLE = SAMPLES / "S02-paragraphs.docx"
FIRST = ["Orla", "Cian", "Maeve", "Tadhg", "Saoirse", "Oisin", "Niamh", "Fionn", "Aoibhe", "Darragh",
         "Clodagh", "Ruairi", "Grainne", "Senan", "Ailbhe", "Colm", "Eabha", "Donnacha", "Sorcha", "Lorcan"]
LAST = ["Quillane", "Brenick", "Dromsall", "Furlane", "Gorrick"]
_MSG_ID_LIST = re.compile(r"\s*(?:<[^<>\s]+@[^<>\s]+>\s*)+")


class Clock:
    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def forms(n: int) -> list[bytes]:
    """n referral forms of n different (fictional) young people: S02 with the child's name replaced."""
    with zipfile.ZipFile(SAMPLE) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    out = []
    for i in range(n):
        first, last = FIRST[i % len(FIRST)], LAST[i // len(FIRST) % len(LAST)]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in parts.items():
                if name.endswith(".xml"):
                    data = data.replace(b"Whitcombe", last.encode()).replace(b"Isla", first.encode())
                z.writestr(name, data)
        out.append(buf.getvalue())
    return out


def of_kind(messages, kind):
    return [m for m in messages if m["X-Mailbot-Kind"] == kind]


def plain(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def change_line(msg) -> str:
    m = re.search(r"^Changes(?: since version \d+)?: (.*)$", plain(msg), re.M)
    assert m, plain(msg)
    return m.group(0)


def windowed_network(mailserver, tmp_path, **master_list):
    from mailbot.sandbox.network import TestNetwork

    return TestNetwork(mailserver, tmp_path, extra={"master_list": {"interval_minutes": 60, **master_list}})


def test_a_burst_of_twenty_referrals_gives_each_member_at_most_one_master_list_per_window(mailserver, tmp_path):
    from mailbot.casework.master_list import decrypt_workbook
    from mailbot.daemon import Bot
    from mailbot.jobs.master_list import master_list_tick
    from mailbot.sandbox.network import MASTER_LIST_PASSWORD
    import openpyxl

    net = windowed_network(mailserver, tmp_path)
    clock = Clock(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))
    bot = Bot(net.config, clock=clock)
    try:
        agencies = [a for _, a in net.members]
        all_forms = forms(20)
        for chunk in [range(0, 5), range(5, 10), range(10, 15), range(15, 20)]:
            for i in chunk:  # five referrals arrive, mailbot takes them in, the next five a few minutes on
                net.send_referral(agencies[i % len(agencies)], all_forms[i])
            bot.drain_inbox_once()
            deliver_outbox(bot)
            clock.t += timedelta(minutes=3)
        assert len(bot.store.open_cases()) == 20
        # within the hour nothing more goes out; when it has passed, the rest goes in one list
        assert master_list_tick(bot.ctx) is False
        clock.t = datetime(2026, 11, 23, 11, 0, 30, tzinfo=timezone.utc)
        assert master_list_tick(bot.ctx) is True
        assert master_list_tick(bot.ctx) is False  # nothing left over
        deliver_outbox(bot)

        per_member = {}
        for address in net.all_member_addresses + [net.coordinator]:
            lists = of_kind(mailserver.fetch_all(address), "master-list")
            per_member[address] = len(lists)
            assert [m["Subject"].split(",")[0] for m in lists] == ["Updated Master List (version 1",
                                                                   "Updated Master List (version 2"], address
            first, second = lists
            assert change_line(first) == "Changes: added CN1, CN2, CN3, CN4, CN5"
            assert change_line(second) == "Changes since version 1: added " + ", ".join(
                f"CN{n}" for n in range(6, 21))
            assert "keep only this one" in plain(second)
        assert max(per_member.values()) == 2 and min(per_member.values()) == 2
        print(f"\nMaster Lists per member in a burst of 20 referrals (4 batches in 9 minutes, window 60 min): "
              f"{max(per_member.values())} (coded referrals per member: 20)")
        # the second list holds all twenty cases
        (att,) = [p for p in second.iter_attachments()]
        wb = openpyxl.load_workbook(io.BytesIO(decrypt_workbook(att.get_content(), MASTER_LIST_PASSWORD)))
        cells = {str(c.value) for row in wb.active.iter_rows() for c in row if c.value is not None}
        assert {f"CN{n}" for n in range(1, 21)} <= cells
        # the changes are rows in the store, each carried by exactly one version
        assert [c for c, _ in bot.store.master_list_changes(1)] == [f"CN{n}" for n in range(1, 6)]
        assert len(bot.store.master_list_changes(2)) == 15 and bot.store.master_list_changes() == []
    finally:
        bot.close()


def test_a_superseded_master_list_is_never_delivered(mailserver, tmp_path):
    from mailbot.daemon import Bot
    from mailbot.jobs.master_list import master_list_tick, send_master_list_if_changed

    net = windowed_network(mailserver, tmp_path, keep_copies=2)
    clock = Clock(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))
    bot = Bot(net.config, clock=clock)
    try:
        two = forms(3)
        net.send_referral(net.members[0][1], two[0])
        bot.drain_inbox_once()  # version 1 queued... and the mail server does not take it yet
        net.send_referral(net.members[1][1], two[1])
        bot.drain_inbox_once()  # held back by the window
        clock.t += timedelta(minutes=61)
        assert master_list_tick(bot.ctx)  # version 2: version 1, still waiting, is superseded
        items = bot.store.outbox_items_of_kind("master-list")
        v1 = [i for i in items if "[Master List version 1]" in i.reason]
        v2 = [i for i in items if "[Master List version 2]" in i.reason]
        assert v1 and v2 and len(v1) == len(v2)
        assert {i.status for i in v1} == {"superseded"} and {i.status for i in v2} == {"pending"}

        # the race: version 3 is built while the outbox has already read version 2 as due
        sender = bot.make_outbox()
        inner = sender.gate
        raced = []

        def gate(item):
            if item.kind == "master-list" and not raced:
                net.send_referral(net.members[2][1], two[2])
                bot.drain_inbox_once()
                raced.append(send_master_list_if_changed(bot.ctx, force=True))
            return inner(item)

        sender.gate = gate
        import asyncio

        asyncio.run(sender.drain_until_empty(30))
        assert raced == [True]

        for address in net.all_member_addresses:
            lists = of_kind(mailserver.fetch_all(address), "master-list")
            assert [m["Subject"].split(",")[0] for m in lists] == ["Updated Master List (version 3"], address
            assert change_line(lists[0]) == "Changes: added CN1, CN2, CN3"
            assert "latest 2 versions" in plain(lists[0])
        by_version = {v: [i for i in bot.store.outbox_items_of_kind("master-list")
                          if f"[Master List version {v}]" in i.reason] for v in (1, 2, 3)}
        assert {i.status for i in by_version[1] + by_version[2]} == {"superseded"}
        assert {i.status for i in by_version[3]} == {"sent"}
        assert all(i.sent_at is None for i in by_version[1] + by_version[2])
        audit = bot.store._conn().execute(
            "SELECT event, message_id FROM audit WHERE kind = 'master-list'").fetchall()
        old_ids = {i.message_id for i in by_version[1] + by_version[2]}
        assert not [mid for event, mid in audit if event == "sent" and mid in old_ids]
        assert {mid for event, mid in audit if event == "superseded"} == old_ids
    finally:
        bot.close()


def test_a_crash_between_building_and_sending_neither_loses_the_change_nor_sends_twice(mailserver, tmp_path,
                                                                                        monkeypatch):
    import mailbot.jobs.master_list as job
    from mailbot.daemon import Bot

    net = windowed_network(mailserver, tmp_path)
    clock = Clock(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))
    bot = Bot(net.config, clock=clock)
    real = job.encrypt_workbook
    try:
        monkeypatch.setattr(job, "encrypt_workbook", lambda *a: (_ for _ in ()).throw(OSError("killed")))
        net.send_referral(net.members[0][1], forms(1)[0])
        with pytest.raises(OSError):
            bot.drain_inbox_once()  # the build dies before its transaction commits
        assert bot.store.outbox_items_of_kind("master-list") == []
        assert bot.store.master_list_changes() == [("CN1", "added")]  # the change is still waiting
        monkeypatch.setattr(job, "encrypt_workbook", real)
        assert job.send_master_list_if_changed(bot.ctx)  # built now; then mailbot stops before sending
    finally:
        bot.close()
    bot = Bot(net.config, clock=clock)  # started again
    try:
        bot.drain_inbox_once()
        assert job.send_master_list_if_changed(bot.ctx) is False
        deliver_outbox(bot)
        for address in net.all_member_addresses:
            lists = of_kind(mailserver.fetch_all(address), "master-list")
            assert len(lists) == 1 and change_line(lists[0]) == "Changes: added CN1", address
    finally:
        bot.close()


def _ids(value) -> list[str]:
    """The msg-ids of an In-Reply-To or References header, read as a mail client reads them."""
    value = " ".join(str(value or "").split())
    assert _MSG_ID_LIST.fullmatch(value), value  # angle brackets round every id, nothing else
    return re.findall(r"<([^<>]+)>", value)


def test_replies_thread_and_notices_carry_reply_to_list_id_and_a_calendar_alternative(mailserver, tmp_path):
    from icalendar import Calendar

    from mailbot.daemon import Bot
    from mailbot.sandbox.network import TestNetwork

    net = TestNetwork(mailserver, tmp_path)
    clock = Clock(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))
    bot = Bot(net.config, clock=clock)
    try:
        lead = net.members[0][1]
        raw = net.send_referral(lead, forms(1)[0])
        referral_id = re.search(rb"^Message-ID: <([^>]+)>", raw, re.M | re.I).group(1).decode()
        bot.drain_inbox_once()
        deliver_outbox(bot)
        ack, = of_kind(mailserver.fetch_all(lead), "acknowledgement")
        assert _ids(ack["In-Reply-To"]) == [referral_id] and _ids(ack["References"]) == [referral_id]

        # a coordinator's email deep in a thread: the reply keeps the whole chain, its own id last
        chain = ["root.1@agency.example", "second.2@network.test"]
        cmd = net.email_with(net.coordinator, "Re: commands", body="HELP",
                             message_id="<third.3@network.test>")
        cmd = (f"References: <{chain[0]}>\n <{chain[1]}>\nIn-Reply-To: <{chain[1]}>\n").encode() + cmd
        net.deliver(cmd)
        notice = net.email_with(lead, "Meeting notice CN1", body=(
            "Meeting notice CN1\nCase: CN1\nDate: 15/02/2027\nTime: 15:30\n"
            "Venue: Family Resource Centre, Main Street\n"
            f"Organiser: Sam Lead, 087 765 4321, {lead}\nType: assessment\n"))
        net.deliver(notice)
        bot.drain_inbox_once()
        deliver_outbox(bot)

        reply, = of_kind(mailserver.fetch_all(net.coordinator), "command-reply")
        assert _ids(reply["In-Reply-To"]) == ["third.3@network.test"]
        assert _ids(reply["References"]) == chain + ["third.3@network.test"]

        member = net.members[3][1]
        got, = of_kind(mailserver.fetch_all(member), "meeting-notice")
        assert got["Reply-To"] == lead
        # the calendar inside the alternative, beside text and HTML, with the method of its METHOD line
        alternative, = [p for p in got.walk() if p.get_content_type() == "multipart/alternative"]
        inner = [p.get_content_type() for p in alternative.iter_parts()]
        assert inner == ["text/plain", "text/html", "text/calendar"]
        cal_part = list(alternative.iter_parts())[2]
        assert cal_part.get_param("method") == "REQUEST" and cal_part.get_filename() is None
        cal = Calendar.from_ical(cal_part.get_content())
        assert str(cal["METHOD"]) == "REQUEST"
        event, = cal.walk("VEVENT")
        assert str(event["ORGANIZER"]).lower() == f"mailto:{lead}"
        assert event.decoded("DTSTART").replace(tzinfo=None) == datetime(2027, 2, 15, 15, 30)
        assert member in {str(a).lower().removeprefix("mailto:") for a in event.get("ATTENDEE")}
        assert "CN1" in str(event["SUMMARY"])
        # and the same invitation attached as a file, for clients that only save attachments
        files = [(p.get_filename(), p.get_content_type()) for p in got.iter_attachments()]
        assert files == [("invite.ics", "application/ics")]

        # every email of the network carries the one List-Id a member filters on
        seen = 0
        for address in net.all_member_addresses + [net.coordinator]:
            for m in mailserver.fetch_all(address):
                assert m["List-Id"] == '"Thornfield Youth Network" <thornfield-youth-network.network.test>', \
                    (address, m["X-Mailbot-Kind"])
                seen += 1
        assert seen > 30
    finally:
        bot.close()
