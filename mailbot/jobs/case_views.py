"""Case views: the facts of every case as the reminders and the digest need them, read from the store.

One place, read by both the scheduler (mailbot.jobs.scheduler) and the digest job (mailbot.jobs.digest).

Meeting facts come from what mailbot itself saw: the meeting notices it sent
(outbox items of kind ``meeting-notice``; their invitation gives the start
and venue, their recipients are the invitees) and the case's
``next_meeting`` (also set by minutes; invitees then fall back to the members
the meeting-notice rule chooses). A future meeting other than the case's
next meeting, or a past one for which a later notice was sent before it took
place, counts as rescheduled. Minutes count as received for a meeting when a
``minutes`` item for the case was queued at or after its start.
"""

from __future__ import annotations

import email
import email.header
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time
from email.utils import parsedate_to_datetime

from mailbot.casework.reminders import ActionFacts, CaseFacts, MeetingFacts, ReminderRules, load_reminder_rules

log = logging.getLogger("mailbot.scheduler")

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


_UNFOLD = re.compile(r"\r?\n[ \t]")
_DTSTART = re.compile(r"^DTSTART(?:;TZID=([^:;]+))?(?:;[^:]*)?:(\d{8}T\d{4}(?:\d{2})?)(Z?)\s*$", re.M)
_LOCATION = re.compile(r"^LOCATION(?:;[^:]*)?:(.*)$", re.M)
_SUBJECT_WHEN = re.compile(r"Network Case Meeting on (.+)$")


def _ics_unescape(s: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), s).strip()


@dataclass(frozen=True)
class _Notice:
    start: datetime | None
    venue: str
    sent_at: datetime | None


_notice_cache: dict[str, _Notice] = {}
_notice_lock = threading.Lock()


def _read_notice(message_id: str, raw: bytes, tz) -> _Notice:
    """Start, venue and sending time of one meeting notice we sent (cached: outbox items never change)."""
    with _notice_lock:
        hit = _notice_cache.get(message_id)
    if hit is not None:
        return hit
    start, venue, sent_at = None, "", None
    try:
        msg = email.message_from_bytes(raw)  # compat32: several times faster, and enough here
        try:
            sent_at = _to_local_naive(parsedate_to_datetime(str(msg["Date"])), tz) if msg["Date"] else None
        except (TypeError, ValueError):
            sent_at = None
        for part in msg.walk():
            if part.get_content_type() != "text/calendar":
                continue
            payload = part.get_payload(decode=True) or b""
            ics = _UNFOLD.sub("", payload.decode(part.get_content_charset() or "utf-8", "replace"))
            m = _DTSTART.search(ics.split("BEGIN:VEVENT", 1)[-1])
            if m:
                stamp = m.group(2)
                fmt = "%Y%m%dT%H%M%S" if len(stamp) == 15 else "%Y%m%dT%H%M"
                start = datetime.strptime(stamp, fmt)
                if m.group(3) == "Z":
                    from datetime import timezone as _tz
                    start = _to_local_naive(start.replace(tzinfo=_tz.utc), tz)
            loc = _LOCATION.search(ics)
            if loc:
                venue = _ics_unescape(loc.group(1))
            break
        if start is None:  # no invitation: the subject says when
            subject = str(email.header.make_header(email.header.decode_header(str(msg["Subject"] or ""))))
            m = _SUBJECT_WHEN.search(" ".join(subject.split()))
            if m:
                try:
                    start = datetime.strptime(m.group(1).strip(), "%A %d %B %Y at %H:%M")
                except ValueError:
                    start = None
    except Exception as exc:  # a notice we cannot read gives no meeting, never a crash
        log.warning("scheduler: meeting notice %s could not be read (%s)", message_id, type(exc).__name__)
    found = _Notice(start, venue, sent_at)
    with _notice_lock:
        if len(_notice_cache) > 20000:
            _notice_cache.clear()
        _notice_cache[message_id] = found
    return found


def _head_date(head: bytes, tz) -> datetime | None:
    m = re.search(rb"^Date:[ \t]*(.+?)\r?$", head, re.M | re.I)
    if not m:
        return None
    try:
        return _to_local_naive(parsedate_to_datetime(m.group(1).decode("ascii", "replace").strip()), tz)
    except (TypeError, ValueError):
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
    for item in store.outbox_items_of_kind("meeting-notice"):
        if not item.case_code:
            continue
        n = _read_notice(item.message_id, item.raw, tz)
        if n.start is None:
            continue
        info = notices.setdefault(item.case_code, {}).setdefault(
            n.start, MeetingInfo(start=n.start, venue=n.venue, from_notice=True))
        for r in list(item.delivered) + list(item.recipients):
            if r.lower() not in (x.lower() for x in info.invitees):
                info.invitees.append(r)
        if n.sent_at is not None:
            notice_times.setdefault(item.case_code, []).append((n.sent_at, n.start))

    minutes_times: dict[str, list[datetime]] = {}
    for head in store.outbox_heads("minutes"):
        when = _head_date(head["head"], tz)
        if head["case_code"] and when is not None:
            minutes_times.setdefault(head["case_code"], []).append(when)

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
        dob = _parse_date((case.person or {}).get("date_of_birth"))
        facts = CaseFacts(
            code=case.code, lead_agency=case.lead_agency,
            lead_contact=(_lead_addresses(ctx, case) or [None])[0],
            referred_on=referred, date_of_birth=dob, status=case.status,
            meetings=[MeetingFacts(start=m.start, invitees=list(m.invitees), minutes_received=m.minutes_received)
                      for m in meetings],
            actions=[ActionFacts(action=a["action"], responsible_email=a.get("responsible_email"))
                     for a in json.loads(ctx.store.get_value(f"actions:{case.code}") or "[]")],
        )
        views.append(CaseView(case=case, facts=facts, meetings=meetings))
    return views


# -- reminders ---------------------------------------------------------------------

def sent_reminder_keys(store) -> set[str]:
    raw = store.get_value(SENT_KEY)
    if not raw:
        return set()
    try:
        data = json.loads(raw)
    except ValueError:
        log.error("scheduler: the record of sent reminders is damaged; treating every reminder key in the "
                  "outbox as sent")
        data = []
    return set(data) if isinstance(data, list) else set()


_rules_cache: dict[str, ReminderRules] = {}


def reminder_rules(ctx) -> ReminderRules:
    path = ctx.cfg.rules_dir / "reminders.toml"
    key = str(path)
    if key not in _rules_cache:
        _rules_cache[key] = load_reminder_rules(path if path.exists() else None)
    return _rules_cache[key]


