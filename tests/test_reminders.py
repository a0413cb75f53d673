"""Reminder schedule, with fixed datetimes. All names are fictional."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from mailbot.errors import ConfigError
from mailbot.casework.reminders import (
    ActionFacts, CaseFacts, MeetingFacts, ReminderRules, due_reminders, load_reminder_rules,
    next_due_time, turns_19_on,
)

RULES = ReminderRules()
LEAD = "lead@youth.example"


def case(**kw):
    base = dict(code="CN78", lead_agency="Youth Service", lead_contact=LEAD,
                referred_on=date(2027, 1, 1), date_of_birth=date(2012, 5, 10), status="open")
    base.update(kw)
    return CaseFacts(**base)


def kinds(rs):
    return [r.kind for r in rs]


def test_shipped_rules_file_loads_with_documented_values():
    r = load_reminder_rules()
    assert r == ReminderRules(10, 14, 1, 7, 8, 2, 9, ("closed", "exited", "removed"))


@pytest.mark.parametrize("text,needle", [
    ("no_meeting_called_days = -1", "whole number"),
    ("no_meeting_called_days = 'ten'", "whole number"),
    ("send_hour = 24", "hour"),
    ("no_meeting_days = 10", "Unknown setting 'no_meeting_days'"),
    ("no_meeting_called_days = ", "not valid TOML"),
    ("inactive_statuses = 'closed'", "list"),
])
def test_bad_rules_file(tmp_path, text, needle):
    p = tmp_path / "reminders.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_reminder_rules(p)
    with pytest.raises(ConfigError, match="not found"):
        load_reminder_rules(tmp_path / "missing.toml")


def test_no_meeting_then_follow_up_overdue():
    c = [case()]
    assert due_reminders(c, datetime(2027, 1, 11, 8, 59), RULES, set()) == []
    due = due_reminders(c, datetime(2027, 1, 11, 9, 0), RULES, set())
    assert kinds(due) == ["no-meeting"]
    r = due[0]
    assert (r.key, r.code, r.recipients, r.due_at, r.template) == (
        "CN78:no-meeting:2027-01-11", "CN78", [LEAD], datetime(2027, 1, 11, 9), "reminder-no-meeting")
    sent = {r.key}
    assert due_reminders(c, datetime(2027, 1, 12, 9), RULES, sent) == []  # never twice
    assert next_due_time(c, datetime(2027, 1, 12, 9), RULES, sent) == datetime(2027, 1, 15, 9)
    over = due_reminders(c, datetime(2027, 1, 15, 9), RULES, sent)
    assert kinds(over) == ["follow-up-overdue"]
    assert over[0].recipients == [LEAD, "coordinator"]
    assert over[0].key == "CN78:follow-up-overdue:2027-01-15"


def test_missed_while_stopped_fires_once_later_and_stops_when_meeting_called():
    c = [case(lead_contact=None)]
    late = due_reminders(c, datetime(2027, 1, 20, 10), RULES, set())
    assert kinds(late) == ["no-meeting", "follow-up-overdue"]
    assert late[0].recipients == ["lead-agency"]
    called = [case(meetings=[MeetingFacts(datetime(2027, 1, 25, 14), ["a@x.example"])])]
    assert "no-meeting" not in kinds(due_reminders(called, datetime(2027, 1, 20, 10), RULES, set()))


def test_meeting_reminder_to_invitees_only_before_the_meeting():
    m = MeetingFacts(datetime(2027, 2, 15, 15, 30), ["a@x.example", "b@y.example", "A@x.example"])
    c = [case(meetings=[m], date_of_birth=None)]
    assert next_due_time(c, datetime(2027, 2, 1), RULES, set()) == datetime(2027, 2, 14, 9)
    due = due_reminders(c, datetime(2027, 2, 14, 9), RULES, set())
    assert kinds(due) == ["meeting-reminder"]
    assert due[0].recipients == ["a@x.example", "b@y.example"]
    assert due[0].key == "CN78:meeting-reminder:2027-02-15T15:30"
    assert due[0].facts["meeting_start"] == m.start
    # after the meeting started, the reminder is pointless and is not sent
    assert "meeting-reminder" not in kinds(due_reminders(c, datetime(2027, 2, 15, 15, 30), RULES, set()))


def test_minutes_missing_until_received():
    m = MeetingFacts(datetime(2027, 2, 15, 15, 30), [], minutes_received=False)
    c = [case(meetings=[m], date_of_birth=None)]
    assert due_reminders(c, datetime(2027, 2, 22, 8), RULES, set()) == []
    due = due_reminders(c, datetime(2027, 2, 22, 9), RULES, set())
    assert kinds(due) == ["minutes-missing"] and due[0].recipients == [LEAD]
    got = [case(meetings=[MeetingFacts(m.start, [], True)], date_of_birth=None)]
    assert due_reminders(got, datetime(2027, 3, 1), RULES, set()) == []


def test_nineteenth_birthday_weeks_before_and_on_the_day():
    c = [case(date_of_birth=date(2008, 6, 20), meetings=[MeetingFacts(datetime(2027, 1, 5, 10), [], True)])]
    soon = due_reminders(c, datetime(2027, 4, 25, 9), RULES, set())
    assert kinds(soon) == ["turns-19-soon"]
    assert soon[0].key == "CN78:turns-19-soon:2027-06-20"
    assert soon[0].recipients == [LEAD, "coordinator"]
    assert soon[0].facts["birthday"] == date(2027, 6, 20)
    assert due_reminders(c, datetime(2027, 4, 25, 8), RULES, set()) == []
    day = due_reminders(c, datetime(2027, 6, 20, 9), RULES, {soon[0].key})
    assert kinds(day) == ["turns-19"]
    assert kinds(due_reminders(c, datetime(2027, 6, 20, 23, 59), RULES, {soon[0].key})) == ["turns-19"]
    # if mailbot was down for the whole window, neither the "soon" one nor "turns 19 today" is sent
    # after the birthday (issue 11 item 17: "today" would be false)
    assert due_reminders(c, datetime(2027, 6, 21, 0, 0), RULES, set()) == []
    assert due_reminders(c, datetime(2027, 6, 21, 9), RULES, set()) == []
    assert due_reminders(c, datetime(2027, 9, 1, 9), RULES, set()) == []
    # a case referred when the young person was already past 19: no "turns 19 today" ever
    late = [case(date_of_birth=date(2005, 1, 1), meetings=[MeetingFacts(datetime(2027, 1, 5, 10), [], True)])]
    assert due_reminders(late, datetime(2027, 1, 10, 9), RULES, set()) == []
    assert next_due_time(late, datetime(2027, 1, 10, 9), RULES, set()) is None


def test_leap_day_birthday():
    assert turns_19_on(date(2008, 2, 29)) == date(2027, 3, 1)
    assert turns_19_on(date(2009, 3, 1)) == date(2028, 3, 1)


def test_action_owner_reminded_before_next_meeting():
    meetings = [MeetingFacts(datetime(2027, 2, 1, 10), [], True),
                MeetingFacts(datetime(2027, 3, 1, 10), ["x@y.example"], False)]
    actions = [ActionFacts("Arrange school place review", "owner@school.example", None),
               ActionFacts("Call the family", None, datetime(2027, 2, 20, 12)),
               ActionFacts("  ", "who@x.example", None)]
    c = [case(meetings=meetings, actions=actions, date_of_birth=None)]
    now = datetime(2027, 2, 18, 9)
    due = due_reminders(c, now, RULES, set())
    assert kinds(due) == ["action-due"]
    assert due[0].recipients == [LEAD] and due[0].facts["action"] == "Call the family"
    now = datetime(2027, 2, 27, 9)
    due = [r for r in due_reminders(c, now, RULES, set()) if r.kind == "action-due"]
    assert [r.recipients for r in due] == [["owner@school.example"]]
    assert due[0].key.startswith("CN78:action-due:") and due[0].key.endswith(":2027-03-01T10:00")
    # deterministic: same facts, same keys
    assert [r.key for r in due_reminders(c, now, RULES, set())] == \
           [r.key for r in due_reminders(c, now, RULES, set())]


def test_closed_cases_get_nothing_and_zero_switches_off():
    assert due_reminders([case(status="Closed")], datetime(2027, 3, 1), RULES, set()) == []
    off = ReminderRules(no_meeting_called_days=0)
    assert kinds(due_reminders([case(date_of_birth=None)], datetime(2027, 1, 12), off, set())) == []


def test_next_due_time_is_now_when_something_due_and_none_when_nothing():
    c = [case(date_of_birth=None)]
    now = datetime(2027, 1, 20, 12)
    assert next_due_time(c, now, RULES, set()) == now
    keys = {r.key for r in due_reminders(c, now, RULES, set())}
    assert next_due_time(c, now, RULES, keys) is None
    assert next_due_time([], now, RULES, set()) is None


def test_many_cases_is_fast_and_ordered():
    cases = [case(code=f"CN{i}", referred_on=date(2027, 1, 1) + timedelta(days=i % 30),
                  meetings=[MeetingFacts(datetime(2027, 3, 1, 10) + timedelta(days=i % 20), ["a@b.example"])])
             for i in range(1, 2001)]
    due = due_reminders(cases, datetime(2027, 3, 10, 9), RULES, set())
    assert len({r.key for r in due}) == len(due) > 0
    assert [r.due_at for r in due] == sorted(r.due_at for r in due)
