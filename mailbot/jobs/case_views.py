"""Case views: the facts of every case as the reminders and the digest need them, read from the store.

One place, read by both the scheduler (mailbot.jobs.scheduler) and the digest job (mailbot.jobs.digest).

Meeting facts are rows the handlers wrote as they acted (store.facts): the
meeting notices sent on (start, venue, invitees, when sent) and the case's
``next_meeting`` (also set by minutes; invitees then fall back to the members
the meeting-notice rule chooses). A future meeting other than the case's
next meeting, or a past one for which a later notice was sent before it took
place, counts as rescheduled. Minutes count as received for a meeting when
minutes for the case were received at or after its start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time

from mailbot.casework.reminders import ActionFacts, CaseFacts, MeetingFacts, ReminderRules, load_reminder_rules

log = logging.getLogger("mailbot.scheduler")

#: the table of reminders sent (it was a key/value entry of this name before schema 5)
SENT_KEY = "reminders_sent"


@dataclass
class MeetingInfo:
    start: datetime                       # naive local wall-clock time
    invitees: list[str] = field(default_factory=list)
    venue: str = ""
    minutes_received: bool = False
    from_notice: bool = False


@dataclass
class CaseView:
    """One open case as the scheduler sees it: the store's Case, the reminder facts, the meetings."""

    case: object                          # mailbot.store.database.Case
    facts: CaseFacts
    meetings: list[MeetingInfo]

    def meeting_at(self, start: datetime) -> MeetingInfo | None:
        for m in self.meetings:
            if m.start == start:
                return m
        return None


def local_naive_now(ctx) -> datetime:
    return ctx.local_now().replace(tzinfo=None)


def _to_local_naive(dt: datetime, tz) -> datetime:
    return dt.astimezone(tz).replace(tzinfo=None) if dt.tzinfo is not None else dt


def _parse_date(value) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def _parse_meeting_time(value, tz) -> tuple[datetime | None, bool]:
    """(naive local start, date_only) from the store's next_meeting text."""
    if not value:
        return None, False
    text = str(value).strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0)), True
        return _to_local_naive(datetime.fromisoformat(text), tz), False
    except ValueError:
        return None, False


def _local(value, tz) -> datetime | None:
    """A stored ISO time (local wall-clock, or with an offset) as the network's local wall-clock time."""
    if not value:
        return None
    try:
        return _to_local_naive(datetime.fromisoformat(str(value)), tz)
    except ValueError:
        return None


def _lead_addresses(ctx, case) -> list[str]:
    contact = (case.lead_contact or "").strip().lower()
    if "@" in contact:
        return [contact]
    for m in ctx.cfg.members:
        if m.agency == case.lead_agency and m.contacts:
            return list(m.contacts)
    return []


def case_views(ctx, now_local: datetime | None = None) -> list[CaseView]:
    """Every open case with the facts reminders and the digest need, from the store (read-only)."""
    from mailbot.context import social_work_status

    store, tz = ctx.store, ctx.cfg.tz
    now_local = now_local or local_naive_now(ctx)
    cases = store.open_cases()
    if not cases:
        return []

    notices: dict[str, dict[datetime, MeetingInfo]] = {}
    notice_times: dict[str, list[tuple[datetime, datetime]]] = {}  # code -> [(sent_at, start)]
    for row in store.meeting_notices():
        start = _local(row["start"], tz)
        if start is None:
            continue
        info = notices.setdefault(row["case_code"], {}).setdefault(
            start, MeetingInfo(start=start, venue=row["venue"], from_notice=True))
        for r in row["invitees"]:
            if r.lower() not in (x.lower() for x in info.invitees):
                info.invitees.append(r)
        sent_at = _local(row["sent_at"], tz)
        if sent_at is not None:
            notice_times.setdefault(row["case_code"], []).append((sent_at, start))

    minutes_times: dict[str, list[datetime]] = {}
    for row in store.minutes_received():
        when = _local(row["received_at"], tz)
        if when is not None:
            minutes_times.setdefault(row["case_code"], []).append(when)

    views = []
    for case in cases:
        referred = _parse_date(case.referred_on)
        if referred is None:
            log.warning("scheduler: case %s has no referral date; no reminders for it", case.code)
            continue
        next_start, date_only = _parse_meeting_time(case.next_meeting, tz)
        sent = sorted(notice_times.get(case.code, []))
        meetings: list[MeetingInfo] = []
        for start, info in sorted(notices.get(case.code, {}).items()):
            if next_start is not None and (start == next_start or (date_only and start.date() == next_start.date())):
                meetings.append(info)
                continue
            if start > now_local:
                continue  # a future meeting that is not the case's next meeting was rescheduled
            first = min((t for t, s_ in sent if s_ == start), default=None)
            if first is not None and any(first < t < start for t, other in sent if other != start):
                continue  # a notice for another time went out before this meeting took place: rescheduled
            meetings.append(info)
        if next_start is not None and not any(
                m.start == next_start or (date_only and m.start.date() == next_start.date()) for m in meetings):
            meetings.append(MeetingInfo(
                start=next_start,
                invitees=ctx.recipients("meeting_notice", social_work=social_work_status(case))))
        for m in meetings:
            m.minutes_received = any(t >= m.start for t in minutes_times.get(case.code, []))
        meetings.sort(key=lambda m: m.start)
        dob = _parse_date(case.person.date_of_birth if case.person else None)
        facts = CaseFacts(
            code=case.code, lead_agency=case.lead_agency,
            lead_contact=(_lead_addresses(ctx, case) or [None])[0],
            referred_on=referred, date_of_birth=dob, status=case.status,
            meetings=[MeetingFacts(start=m.start, invitees=list(m.invitees), minutes_received=m.minutes_received)
                      for m in meetings],
            actions=[ActionFacts(action=a["action"], responsible_email=a.get("responsible_email"))
                     for a in store.actions(case.code)],
        )
        views.append(CaseView(case=case, facts=facts, meetings=meetings))
    return views


# -- reminders ---------------------------------------------------------------------

def sent_reminder_keys(store) -> set[str]:
    return store.reminder_sent_keys()


def reminder_rules(ctx) -> ReminderRules:
    """The network's rules/reminders.toml (the shipped rules when it has none), loaded once a Context."""
    return ctx.rules_file(_load_reminder_rules)


def _load_reminder_rules(rules_dir) -> ReminderRules:
    path = rules_dir / "reminders.toml"
    return load_reminder_rules(path if path.exists() else None)


