"""Reminder schedule: which reminders are due, computed from case facts (pure).

Timings are data, in ``rules/reminders.toml``:

=======================================  ====  =========================================  ==========================
rule                                     dflt  reminder (template key)                    to
=======================================  ====  =========================================  ==========================
``no_meeting_called_days``               10    no meeting called yet                      lead agency
                                               (``reminder-no-meeting``)
``follow_up_overdue_days``               14    two-week rule broken                       lead agency + coordinator
                                               (``reminder-follow-up-overdue``)
``meeting_reminder_days_before``         1     meeting coming up (``reminder-meeting``)   the meeting's invitees
``minutes_missing_days``                 7     no minutes after a meeting                 lead agency
                                               (``reminder-minutes-missing``)
``nineteenth_birthday_weeks_before``     8     turns 19 soon: plan the exit meeting       lead agency + coordinator
                                               (``reminder-turns-19-soon``); and on the
                                               day (``reminder-turns-19``)
``action_owner_days_before_next_meeting`` 2    your action is due at the next meeting     the person responsible
                                               (``reminder-action-due``)                  (else the lead agency)
``send_hour``                            9     local hour at which reminders go out
``inactive_statuses``                          statuses that get no reminders             ["closed", "exited", ...]
=======================================  ====  =========================================  ==========================

A value of 0 switches a reminder off (the on-the-day 19th birthday notice
stays on). Each reminder has a deterministic key such as
``CN78:no-meeting:2027-01-10``; the caller records sent keys and passes them
back as ``already_sent``, so a reminder never fires twice, and a reminder
missed while mailbot was stopped fires on the next run (unless its moment
has passed, e.g. a meeting reminder after the meeting, or "turns 19 today"
after that day). Conditions are re-checked every run: once a meeting is
called, "no meeting" reminders stop.

Recipients are addresses (contain ``@``) or role names: ``lead-agency``
(used when the case has no lead contact address) and ``coordinator``.
Someone born on 29 February turns 19 on 1 March in a non-leap year.

API: ``load_reminder_rules(path=None) -> ReminderRules``;
``due_reminders(cases, now, rules, already_sent) -> list[Reminder]``;
``next_due_time(cases, now, rules, already_sent) -> datetime | None``.
All datetimes are naive local wall-clock times.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Iterator

from mailbot.errors import ConfigError
from mailbot.paths import shipped

__all__ = ["ReminderRules", "CaseFacts", "MeetingFacts", "ActionFacts", "Reminder",
           "load_reminder_rules", "due_reminders", "next_due_time", "turns_19_on",
           "DEFAULT_RULES_PATH", "TEMPLATES"]

DEFAULT_RULES_PATH = shipped("rules") / "reminders.toml"
LEAD = "lead-agency"
COORDINATOR = "coordinator"

#: reminder kind -> template key (texts are owned by the email templates)
TEMPLATES = {
    "no-meeting": "reminder-no-meeting",
    "follow-up-overdue": "reminder-follow-up-overdue",
    "meeting-reminder": "reminder-meeting",
    "minutes-missing": "reminder-minutes-missing",
    "turns-19-soon": "reminder-turns-19-soon",
    "turns-19": "reminder-turns-19",
    "action-due": "reminder-action-due",
}


@dataclass(frozen=True)
class ReminderRules:
    no_meeting_called_days: int = 10
    follow_up_overdue_days: int = 14
    meeting_reminder_days_before: int = 1
    minutes_missing_days: int = 7
    nineteenth_birthday_weeks_before: int = 8
    action_owner_days_before_next_meeting: int = 2
    send_hour: int = 9
    inactive_statuses: tuple[str, ...] = ("closed", "exited", "removed")


@dataclass(frozen=True)
class MeetingFacts:
    start: datetime
    invitees: list[str] = field(default_factory=list)
    minutes_received: bool = False


@dataclass(frozen=True)
class ActionFacts:
    action: str
    responsible_email: str | None = None
    due_before: datetime | None = None  # None: before the case's next meeting


@dataclass(frozen=True)
class CaseFacts:
    code: str
    lead_agency: str
    lead_contact: str | None
    referred_on: date
    date_of_birth: date | None = None
    status: str = "open"
    meetings: list[MeetingFacts] = field(default_factory=list)
    actions: list[ActionFacts] = field(default_factory=list)


@dataclass(frozen=True)
class Reminder:
    key: str  # deterministic: "CN78:no-meeting:2027-01-10"
    kind: str
    code: str
    recipients: list[str]  # addresses, or roles "lead-agency" / "coordinator"
    due_at: datetime
    template: str
    #: values for the template: lead_agency, meeting_start, birthday, action, due_before...
    facts: dict = field(default_factory=dict, compare=False)


# -- rules ---------------------------------------------------------------------

def load_reminder_rules(path: str | Path | None = None) -> ReminderRules:
    """Read and check ``rules/reminders.toml``; raise ConfigError with a plain message."""
    p = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"The reminder rules file {p.name} was not found.") from None
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"The reminder rules file {p.name} cannot be read.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The reminder rules file {p.name} is not valid TOML ({exc}).") from None
    known = {f.name for f in fields(ReminderRules)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"Unknown setting '{unknown[0]}' in {p.name}; "
                          f"known settings: {', '.join(sorted(known))}.")
    values = {}
    for name in known & set(data):
        v = data[name]
        if name == "inactive_statuses":
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                raise ConfigError(f"'{name}' in {p.name} must be a list of words.")
            values[name] = tuple(s.strip().lower() for s in v)
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 3650:
            raise ConfigError(f"'{name}' in {p.name} must be a whole number from 0 to 3650.")
        if name == "send_hour" and v > 23:
            raise ConfigError(f"'send_hour' in {p.name} must be an hour from 0 to 23.")
        values[name] = v
    return ReminderRules(**values)


# -- schedule ------------------------------------------------------------------

def turns_19_on(date_of_birth: date) -> date:
    """The 19th birthday (29 February -> 1 March in a non-leap year)."""
    try:
        return date_of_birth.replace(year=date_of_birth.year + 19)
    except ValueError:
        return date(date_of_birth.year + 19, 3, 1)


def _lead(case: CaseFacts) -> str:
    c = (case.lead_contact or "").strip()
    return c if "@" in c else LEAD


def _unique(items: list[str]) -> list[str]:
    seen, out = set(), []
    for x in items:
        x = (x or "").strip()
        if x and x.lower() not in seen:
            seen.add(x.lower())
            out.append(x)
    return out


def _candidates(case: CaseFacts, now: datetime, rules: ReminderRules
                ) -> Iterator[tuple[Reminder, datetime | None]]:
    """Every reminder this case calls for, with the moment it stops making sense (or None)."""
    if (case.status or "").strip().lower() in rules.inactive_statuses:
        return
    send = time(rules.send_hour)

    def at(d: date) -> datetime:
        return datetime.combine(d, send)

    def make(kind: str, key_part: str, recipients: list[str], due: datetime, **facts) -> Reminder:
        facts.setdefault("lead_agency", case.lead_agency)
        return Reminder(key=f"{case.code}:{kind}:{key_part}", kind=kind, code=case.code,
                        recipients=_unique(recipients), due_at=due, template=TEMPLATES[kind],
                        facts=facts)

    lead = _lead(case)
    meetings = sorted(case.meetings, key=lambda m: m.start)

    if not meetings:
        for kind, days, who in (("no-meeting", rules.no_meeting_called_days, [lead]),
                                ("follow-up-overdue", rules.follow_up_overdue_days, [lead, COORDINATOR])):
            if days > 0:
                trigger = case.referred_on + timedelta(days=days)
                yield make(kind, trigger.isoformat(), who, at(trigger),
                           referred_on=case.referred_on), None

    for m in meetings:
        stamp = m.start.strftime("%Y-%m-%dT%H:%M")
        if rules.meeting_reminder_days_before > 0 and m.invitees:
            due = at(m.start.date() - timedelta(days=rules.meeting_reminder_days_before))
            yield make("meeting-reminder", stamp, list(m.invitees), due, meeting_start=m.start), m.start
        if rules.minutes_missing_days > 0 and not m.minutes_received:
            due = at(m.start.date() + timedelta(days=rules.minutes_missing_days))
            yield make("minutes-missing", stamp, [lead], due, meeting_start=m.start), None

    if case.date_of_birth is not None:
        b19 = turns_19_on(case.date_of_birth)
        if rules.nineteenth_birthday_weeks_before > 0:
            due = at(b19 - timedelta(weeks=rules.nineteenth_birthday_weeks_before))
            yield (make("turns-19-soon", b19.isoformat(), [lead, COORDINATOR], due, birthday=b19),
                   datetime.combine(b19, time(0)))
        # "turns 19 today" is true on the day only: missed that day (mailbot stopped), it is not sent later
        yield (make("turns-19", b19.isoformat(), [lead, COORDINATOR], at(b19), birthday=b19),
               datetime.combine(b19 + timedelta(days=1), time(0)))

    if rules.action_owner_days_before_next_meeting > 0 and case.actions:
        upcoming = [m.start for m in meetings if m.start > now]
        next_meeting = upcoming[0] if upcoming else None
        for a in case.actions:
            deadline = a.due_before or next_meeting
            if deadline is None or not (a.action or "").strip():
                continue
            digest = hashlib.sha256(a.action.strip().encode("utf-8")).hexdigest()[:10]
            who = a.responsible_email if a.responsible_email and "@" in a.responsible_email else lead
            due = at(deadline.date() - timedelta(days=rules.action_owner_days_before_next_meeting))
            yield (make("action-due", f"{digest}:{deadline:%Y-%m-%dT%H:%M}", [who], due,
                        action=a.action.strip(), due_before=deadline), deadline)


def _all(cases, now, rules, already_sent):
    seen: set[str] = set()
    for case in cases:
        for reminder, until in _candidates(case, now, rules):
            if reminder.key in already_sent or reminder.key in seen:
                continue
            if until is not None and reminder.due_at >= until:
                continue  # would only fall due when it no longer makes sense
            seen.add(reminder.key)
            yield reminder, until


def due_reminders(cases: list[CaseFacts], now: datetime, rules: ReminderRules,
                  already_sent: set[str]) -> list[Reminder]:
    """Reminders that are due at ``now`` and not yet sent, oldest first."""
    out = [r for r, until in _all(cases, now, rules, already_sent)
           if r.due_at <= now and (until is None or now < until)]
    return sorted(out, key=lambda r: (r.due_at, r.key))


def next_due_time(cases: list[CaseFacts], now: datetime, rules: ReminderRules,
                  already_sent: set[str]) -> datetime | None:
    """When the scheduler should next run: ``now`` if something is due, else the earliest
    future due time, or None when nothing is scheduled (facts may change later)."""
    best: datetime | None = None
    for r, until in _all(cases, now, rules, already_sent):
        if r.due_at <= now:
            if until is None or now < until:
                return now
            continue
        if best is None or r.due_at < best:
            best = r.due_at
    return best
