"""Reminders and the daily digest wired to the store, driven by a fake clock (no mail server).

Every person, agency and address here is fictional.
"""

from __future__ import annotations

import email
import email.policy
import time
from datetime import datetime, timedelta, timezone

import pytest

from mailbot.mail.compose import ICS_TYPE, Attachment
from mailbot.config import parse_config
from mailbot.casework.calendar_invite import build_ics
from mailbot.daemon import Bot
from mailbot.jobs.digest import send_digest
from mailbot.jobs.scheduler import reminders_tick, start_scheduler
from mailbot.store import Case
from people import record, relatives, young

LEAD = "orla.brack@hebble-ys.example.net"
OTHER = "dev.quinlan@sowerby-frc.example.net"
THIRD = "office@tenter-school.example.net"
SW = "duty@kilnsey-sw.example.net"
COORD = "maeve.coordinator@network.example.net"
MAILBOX = "coordinator@network.example.net"

PERSON = {"name": "Tadhg Ruddock", "first_name": "Tadhg", "surname": "Ruddock", "known_as": ["Taddy"],
          "other_surnames": [], "date_of_birth": "2009-05-02", "family": ["Brona Ruddock"]}


class Clock:
    def __init__(self, start: datetime):
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def set(self, *args) -> None:  # Dublin is on UTC in winter: wall time == UTC in these tests
        self.t = datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def clock():
    return Clock(datetime(2027, 1, 4, 10, 0, tzinfo=timezone.utc))


@pytest.fixture
def config(tmp_path):
    pw = tmp_path / "ml-password"
    pw.write_text("correct-horse-battery")
    return parse_config({
        "network": {"name": "Kilnsey Youth Network", "timezone": "Europe/Dublin", "mailbox_address": MAILBOX,
                    "coordinators": [COORD]},
        "imap": {"host": "127.0.0.1", "port": 1, "tls": "none"},
        "smtp": {"host": "127.0.0.1", "port": 1, "tls": "none"},
        "paths": {"data_dir": str(tmp_path / "data")},
        "master_list": {"password_file": str(pw)},
        "members": [
            {"agency": "Hebble Youth Service", "contacts": [LEAD]},
            {"agency": "Sowerby Family Resource Centre", "contacts": [OTHER]},
            {"agency": "Tenter Croft School", "contacts": [THIRD]},
            {"agency": "Kilnsey Social Work Team", "contacts": [SW], "social_work": True},
        ],
    }, base=tmp_path)


@pytest.fixture
def bot(config, clock):
    b = Bot(config, clock=clock)
    yield b
    b.close()


def add_case(bot, code="CN7", number=7, *, referred_on="2027-01-04", person=PERSON, next_meeting=None,
             sw_known=None, lead_agency="Hebble Youth Service", lead_contact=LEAD):
    bot.store.add_case(Case(code=code, number=number, letter=code[len(f"CN{number}"):], lead_agency=lead_agency,
                            lead_contact=lead_contact, referred_on=referred_on, person=record(person),
                            next_meeting=next_meeting, sw_known=sw_known))


def items(bot, kind=None):
    return [i for i in bot.store.outbox_items() if kind is None or i.kind == kind]


def parsed(item):
    return email.message_from_bytes(item.raw, policy=email.policy.default)


def subject(item) -> str:
    return " ".join(str(parsed(item)["Subject"]).split())  # long subjects are folded


def text_of(item) -> str:
    return parsed(item).get_body(("plain",)).get_content()


def assert_no_names(bot):
    for item in bot.store.outbox_items():
        raw = item.raw.decode("utf-8", "replace").lower()
        msg = parsed(item)
        parts = [raw] + [p.get_content().lower() for p in msg.walk()
                         if p.get_content_maintype() == "text"]
        for token in ("tadhg", "ruddock", "taddy", "brona"):
            assert not any(token in p for p in parts), (item.kind, token)


def test_no_meeting_reminder_once_then_overdue_to_lead_and_coordinator(bot, clock):
    add_case(bot)
    clock.set(2027, 1, 14, 8, 59)          # day 10, before the send hour
    assert reminders_tick(bot.ctx) == 0
    clock.set(2027, 1, 14, 9, 1)
    assert reminders_tick(bot.ctx) == 1
    (item,) = items(bot)
    assert item.kind == "reminder-no-meeting"
    assert item.recipients == [LEAD]
    assert item.case_code == "CN7"
    msg = parsed(item)
    assert subject(item) == "[CN7] Reminder: please call a Network Case Meeting"
    body = text_of(item)
    assert "04/01/2027" in body and "10 days ago" in body and "18/01/2027" in body
    assert "CN7:no-meeting:2027-01-14" in bot.store.reminder_sent_keys()

    assert reminders_tick(bot.ctx) == 0     # never twice
    clock.set(2027, 1, 16, 12, 0)
    assert reminders_tick(bot.ctx) == 0
    assert len(items(bot)) == 1

    clock.set(2027, 1, 18, 9, 0)            # day 14: two-week rule broken
    assert reminders_tick(bot.ctx) == 2
    overdue = items(bot, "reminder-follow-up-overdue")
    assert sorted(r for i in overdue for r in i.recipients) == sorted([LEAD, COORD])
    assert all(subject(i).startswith("[CN7] Follow-up overdue") for i in overdue)
    assert reminders_tick(bot.ctx) == 0
    assert_no_names(bot)


def test_restart_neither_loses_nor_repeats(config, clock):
    b = Bot(config, clock=clock)
    add_case(b)
    clock.set(2027, 1, 14, 9, 30)
    assert reminders_tick(b.ctx) == 1
    b.close()
    b2 = Bot(config, clock=clock)           # restart: same day, then later
    try:
        assert reminders_tick(b2.ctx) == 0
        clock.set(2027, 1, 20, 7, 0)        # overdue reminder was missed while stopped: sent now, once
        assert reminders_tick(b2.ctx) == 2
        assert reminders_tick(b2.ctx) == 0
        assert [i.kind for i in b2.store.outbox_items()] == ["reminder-no-meeting"] + \
            ["reminder-follow-up-overdue"] * 2
    finally:
        b2.close()


def test_meeting_called_stops_no_meeting_reminders(bot, clock):
    add_case(bot, next_meeting="2027-01-22T10:00")
    clock.set(2027, 1, 19, 9, 0)
    reminders_tick(bot.ctx)
    assert not items(bot, "reminder-no-meeting") and not items(bot, "reminder-follow-up-overdue")


def _queue_notice(bot, code, start, to, venue="Sowerby FRC, Mill Lane"):
    ctx = bot.ctx
    ics = build_ics(f"{code}-{start:%Y%m%dT%H%M}@network.example.net", start, start + timedelta(hours=1),
                    "Europe/Dublin", summary=f"Network Case Meeting {code}", location=venue,
                    organizer_email=LEAD, attendee_emails=to, now=ctx.now())
    with bot.store.transaction():
        ctx.queue(kind="meeting-notice", rule_kind="meeting_notice", template="meeting-notice", to=to,
                  values={"code": code, "when": start.strftime("%A %d %B %Y at %H:%M"), "venue": venue,
                          "organiser": LEAD, "lead_agency": "Hebble Youth Service", "meeting_type_line": ""},
                  source=f"test-notice:{code}:{start}", case_code=code,
                  attachments=[Attachment("invite.ics", ICS_TYPE, ics)])
        bot.store.update_case(code, next_meeting=start.isoformat(timespec="minutes"))
        # the fact the notices handler records as it sends the notice on (store.facts)
        bot.store.record_meeting_notice(code, start.isoformat(timespec="minutes"), venue,
                                        ctx.local_now().replace(tzinfo=None).isoformat(timespec="seconds"), to,
                                        source=f"test-notice:{code}:{start}")


def _minutes_received(bot, code: str, source: str) -> None:
    """The fact the minutes handler records when minutes come (store.facts)."""
    bot.store.record_minutes_received(code, bot.ctx.local_now().replace(tzinfo=None).isoformat(timespec="seconds"),
                                      source)


def test_meeting_reminder_day_before_goes_to_the_notice_invitees(bot, clock):
    add_case(bot)
    start = datetime(2027, 1, 15, 14, 30)
    clock.set(2027, 1, 11, 11, 0)
    _queue_notice(bot, "CN7", start, [LEAD, OTHER])
    clock.set(2027, 1, 14, 8, 0)
    assert reminders_tick(bot.ctx) == 0
    clock.set(2027, 1, 14, 9, 0)
    assert reminders_tick(bot.ctx) == 2
    got = items(bot, "reminder-meeting")
    assert sorted(r for i in got for r in i.recipients) == sorted([LEAD, OTHER])
    assert subject(got[0]) == "[CN7] Reminder: Network Case Meeting on Friday 15 January 2027 at 14:30"
    assert "Sowerby FRC, Mill Lane" in text_of(got[0])
    clock.set(2027, 1, 15, 9, 0)
    assert reminders_tick(bot.ctx) == 0
    assert_no_names(bot)


def test_meeting_from_minutes_only_reminds_members_without_social_work(bot, clock):
    add_case(bot, next_meeting="2027-02-03T10:00")
    clock.set(2027, 2, 2, 9, 0)
    reminders_tick(bot.ctx)
    got = items(bot, "reminder-meeting")
    assert sorted(r for i in got for r in i.recipients) == sorted([LEAD, OTHER, THIRD, COORD])


def test_minutes_missing_reminder_unless_minutes_came(bot, clock):
    add_case(bot, "CN7", 7)
    add_case(bot, "CN8", 8, person=record({"name": "Ailbhe Corran", "date_of_birth": "2010-06-06"}))
    clock.set(2027, 1, 8, 10, 0)
    _queue_notice(bot, "CN7", datetime(2027, 1, 12, 10, 0), [LEAD, OTHER])
    _queue_notice(bot, "CN8", datetime(2027, 1, 12, 12, 0), [LEAD, OTHER])
    clock.set(2027, 1, 13, 16, 0)           # minutes for CN8 arrive after its meeting
    with bot.store.transaction():
        bot.ctx.queue(kind="minutes", rule_kind="minutes", template="minutes", to=[OTHER, COORD],
                      values={"code": "CN8", "lead_agency": "Hebble Youth Service", "date": "2027-01-12",
                              "next_meeting": "not set"}, source="test-minutes:CN8", case_code="CN8")
        _minutes_received(bot, "CN8", "test-minutes:CN8")
    clock.set(2027, 1, 19, 8, 0)
    reminders_tick(bot.ctx)
    assert not items(bot, "reminder-minutes-missing")
    clock.set(2027, 1, 19, 9, 0)
    reminders_tick(bot.ctx)
    got = items(bot, "reminder-minutes-missing")
    assert [(i.case_code, i.recipients) for i in got] == [("CN7", [LEAD])]
    assert subject(got[0]) == "[CN7] Reminder: minutes of the meeting of 12/01/2027"


def test_nineteenth_birthday_eight_weeks_before_and_on_the_day(bot, clock):
    add_case(bot, person=record({**PERSON, "date_of_birth": "2008-03-15"}), next_meeting="2027-01-10T10:00")
    clock.set(2027, 1, 17, 9, 0)
    reminders_tick(bot.ctx)
    assert not items(bot, "reminder-turns-19-soon")
    clock.set(2027, 1, 18, 9, 0)            # 8 weeks before 15/03/2027
    reminders_tick(bot.ctx)
    soon = items(bot, "reminder-turns-19-soon")
    assert sorted(r for i in soon for r in i.recipients) == sorted([LEAD, COORD])
    assert subject(soon[0]) == "[CN7] Turns 19 on 15/03/2027: please plan the exit meeting"
    assert "in 56" in " ".join(text_of(soon[0]).split())
    clock.set(2027, 3, 14, 9, 0)
    reminders_tick(bot.ctx)
    assert not items(bot, "reminder-turns-19")
    clock.set(2027, 3, 15, 9, 0)
    reminders_tick(bot.ctx)
    day = items(bot, "reminder-turns-19")
    assert sorted(r for i in day for r in i.recipients) == sorted([LEAD, COORD])
    assert subject(day[0]).startswith("[CN7] Turns 19 today")
    n = len(items(bot))
    reminders_tick(bot.ctx)
    assert len(items(bot)) == n
    assert_no_names(bot)


def test_closed_case_gets_no_reminders(bot, clock):
    add_case(bot)
    bot.store.update_case("CN7", status="closed")
    clock.set(2027, 2, 1, 9, 0)
    assert reminders_tick(bot.ctx) == 0


def test_digest_lists_pending_sw_check_and_quarantine_once_a_day(bot, clock):
    add_case(bot, "CN7", 7)
    add_case(bot, "CN9", 9, person=record({"name": "Ciarán Moss", "date_of_birth": "2011-02-02"}), sw_known=False,
             next_meeting="2027-01-07T11:00")
    bot.store.record_message("<q1@elsewhere.example.org>", uidvalidity=1, uid=5, sender="stranger@elsewhere.example.org",
                             kind="refused", outcome="quarantined", reason="not-a-member")
    clock.set(2027, 1, 5, 7, 30)
    assert send_digest(bot.ctx, clock()) == 1
    (item,) = items(bot, "digest")
    assert item.recipients == [COORD]
    msg = parsed(item)
    assert subject(item).startswith("mailbot digest for Tue 05/01/2027")
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    sw_section = text.split("SOCIAL WORK CHECKS TO DO", 1)[1].split("\n\n", 1)[0]
    assert "CN7" in sw_section and "CN9" not in sw_section
    assert "stranger@elsewhere.example.org" in text and "not-a-member" in text
    assert "MEETINGS THIS WEEK" in text and "CN9" in text
    assert "CN7" in html and "stranger@elsewhere.example.org" in html
    assert send_digest(bot.ctx, clock()) == 0          # same day: nothing
    clock.set(2027, 1, 5, 22, 0)
    assert send_digest(bot.ctx, clock()) == 0
    assert len(items(bot, "digest")) == 1

    clock.set(2027, 1, 6, 7, 30)                       # next day: quarantined mail is not listed again
    assert send_digest(bot.ctx, clock()) == 1
    second = [i for i in items(bot, "digest") if i.id != item.id][0]
    text2 = parsed(second).get_body(("plain",)).get_content()
    assert "stranger@elsewhere.example.org" not in text2
    assert "CN7" in text2
    assert_no_names(bot)


def test_digest_withheld_when_a_name_would_appear(bot, clock):
    # a (fictional) young person whose surname is also in an agency's name: fail closed
    add_case(bot, person=record({"name": "Rory Hebble", "first_name": "Rory", "surname": "Hebble"}))
    clock.set(2027, 1, 5, 7, 30)
    assert send_digest(bot.ctx, clock()) == 0
    assert not items(bot, "digest")
    (alert,) = items(bot, "coordinator-alert")
    assert alert.recipients == [COORD]
    assert "hebble" not in text_of(alert).lower()
    assert send_digest(bot.ctx, clock()) == 0
    assert len(items(bot)) == 1


def test_start_scheduler_runs_the_reminder_job_at_once(bot, clock):
    add_case(bot)
    clock.set(2027, 1, 14, 9, 0)
    scheduler = start_scheduler(bot)
    try:
        assert {j.id for j in scheduler.get_jobs()} >= {"reminders", "digest"}
        deadline = time.monotonic() + 10
        while not items(bot, "reminder-no-meeting") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert [i.recipients for i in items(bot, "reminder-no-meeting")] == [[LEAD]]


def test_digest_catch_up_at_start_after_missed_digest_time(bot, clock):
    add_case(bot)
    clock.set(2027, 1, 5, 9, 15)            # digest time 07:30 passed while stopped
    scheduler = start_scheduler(bot)
    try:
        deadline = time.monotonic() + 10
        while not items(bot, "digest") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert len(items(bot, "digest")) == 1


def test_a_reminder_that_cannot_be_rendered_is_neither_lost_nor_recorded(tmp_path, config, clock):
    import dataclasses
    import shutil

    templates = tmp_path / "templates"
    shutil.copytree(config.templates_dir, templates)
    (templates / "email" / "reminder-no-meeting.txt").unlink()
    cfg = dataclasses.replace(config, templates_dir=templates)
    b = Bot(cfg, clock=clock)
    try:
        add_case(b, person=record({**PERSON, "date_of_birth": "2008-03-15"}))
        clock.set(2027, 1, 14, 9, 0)          # no-meeting is due (template missing)
        assert reminders_tick(b.ctx) == 0
        assert items(b) == []
        assert not [k for k in b.store.reminder_sent_keys() if "no-meeting" in k]
        clock.set(2027, 1, 18, 9, 0)          # now overdue + turns-19-soon too: those still go
        assert reminders_tick(b.ctx) == 4
        assert sorted({i.kind for i in items(b)}) == ["reminder-follow-up-overdue", "reminder-turns-19-soon"]
        shutil.copy(config.templates_dir / "email" / "reminder-no-meeting.txt", templates / "email")
        assert reminders_tick(b.ctx) == 1     # the missed one goes out once the template is back
        assert reminders_tick(b.ctx) == 0
        assert len(items(b, "reminder-no-meeting")) == 1
    finally:
        b.close()


def test_tick_is_fast_with_a_busy_store(bot, clock):
    """300 open cases, each with a meeting notice to 5 members and minutes: one tick well under a second."""
    def surname(n: int) -> str:  # letters only: digits are not part of a name (they separate words)
        out = ""
        while True:
            n, r = divmod(n, 26)
            out += "bcdfghjklmnpqrstvwxzaeiouy"[r]
            if not n:
                return "Qu" + out + "vane"

    for n in range(1, 301):
        add_case(bot, f"CN{n}", n, person=record({"name": f"Fictional {surname(n)}", "date_of_birth": "2012-01-01"}))
    clock.set(2027, 1, 5, 10, 0)
    for n in range(1, 301):
        _queue_notice(bot, f"CN{n}", datetime(2027, 1, 8, 10, 0), [LEAD, OTHER, THIRD, COORD])
    clock.set(2027, 1, 8, 15, 0)
    with bot.store.transaction():
        for n in range(1, 301):
            bot.ctx.queue(kind="minutes", rule_kind="minutes", template="minutes", to=[LEAD, OTHER, COORD],
                          values={"code": f"CN{n}", "lead_agency": "Hebble Youth Service", "date": "2027-01-08",
                                  "next_meeting": "not set"}, source=f"m:{n}", case_code=f"CN{n}")
            _minutes_received(bot, f"CN{n}", f"m:{n}")
    clock.set(2027, 1, 20, 9, 0)
    started = time.perf_counter()
    reminders_tick(bot.ctx)                   # first tick parses every notice once
    first = time.perf_counter() - started
    started = time.perf_counter()
    assert reminders_tick(bot.ctx) == 0
    again = time.perf_counter() - started
    assert again < 1.0, again
    print(f"tick with 300 cases: first {first * 1000:.0f} ms, then {again * 1000:.0f} ms")


def test_actions_from_minutes_remind_their_owners_before_the_next_meeting(bot, clock):
    """Actions recorded from minutes (names on record replaced) remind each owner before the next meeting."""
    from mailbot.handlers.minutes import recorded_actions

    add_case(bot, next_meeting="2027-02-10T10:00")
    from mailbot.documents.minutes.result import Action, Attendee, Minutes

    minutes = Minutes("CN7", attendees=[Attendee("Dev Quinlan", "Sowerby FRC", email=OTHER)],
                      actions=[Action("Ring Tadhg's home on the first morning of any absence", "Dev Quinlan"),
                               Action("Book the room", "Someone Unlisted")])
    actions = recorded_actions(minutes, young(PERSON), relatives({"name": "Brona Ruddock", "relationship": "mother"}),
                               ["CN7"])
    assert actions[0]["action"] == "Ring CN7's home on the first morning of any absence"
    assert actions[0]["responsible_email"] == OTHER and actions[1]["responsible_email"] is None
    with bot.store.transaction():
        bot.store.set_actions("CN7", actions)
    clock.set(2027, 2, 7, 9, 0)
    reminders_tick(bot.ctx)
    assert not items(bot, "reminder-action-due")
    clock.set(2027, 2, 8, 9, 0)  # two days before the meeting (rules/reminders.toml)
    reminders_tick(bot.ctx)
    got = items(bot, "reminder-action-due")
    assert sorted(r for i in got for r in i.recipients) == sorted([OTHER, LEAD])  # unknown owner: the lead
    assert any("Ring CN7's home" in text_of(i) for i in got)
    reminders_tick(bot.ctx)
    assert len(items(bot, "reminder-action-due")) == 2  # never twice
    assert_no_names(bot)
