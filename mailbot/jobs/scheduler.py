"""Time-driven work of the running bot: reminders (every minute) and the coordinator's daily digest.

``start_scheduler(bot) -> BackgroundScheduler`` (APScheduler 3.x, in the
network's time zone) runs its jobs in ONE worker thread, so they never
overlap (the Master List's window, every minute, is the third:
:func:`mailbot.jobs.master_list.master_list_tick`):

* ``reminders_tick(ctx)`` every minute, and once at start: the facts of every
  open case are read from the store (:func:`case_views`), the pure
  :func:`mailbot.casework.reminders.due_reminders` says what is due, and each due
  reminder is queued in the outbox in the SAME store transaction that
  records its key in ``kv["reminders_sent"]``. A crash therefore either loses
  nothing (nothing was committed: the next tick redoes it) or finds the key
  recorded (nothing is repeated); and the Message-ID is derived from
  (kind, reminder key, recipient), so even a redo would be ignored by the
  outbox.
* the daily digest at ``cfg.digest_time`` (CronTrigger, coalesce, a few hours
  of misfire grace): :func:`mailbot.jobs.digest.send_digest`. Its source is
  ``digest:<local date>``, so a restart on the same day cannot send a second
  one; at start, a digest missed earlier today (mailbot was stopped at the
  digest time) is sent once, within :data:`DIGEST_CATCH_UP`.

Persistence, the choice made: APScheduler's own job stores would need
SQLAlchemy; instead only the triggers live in memory and every firing is
DERIVED from the store and idempotent. A restart neither loses a reminder
(it is still due and not recorded as sent) nor repeats one (it is recorded).

Meeting facts come from what mailbot itself saw: the meeting notices it sent
(outbox items of kind ``meeting-notice``; their invitation gives the start
and venue, their recipients are the invitees) and the case's
``next_meeting`` (also set by minutes; invitees then fall back to the members
the meeting-notice rule chooses). A future meeting other than the case's
next meeting, or a past one for which a later notice was sent before it took
place, counts as rescheduled. Minutes count as received for a meeting when a
``minutes`` item for the case was queued at or after its start.

All times come from ``ctx.now()`` (the Context's clock), so tests drive time
with a fake clock. Logs carry codes and keys, never names.
"""

from __future__ import annotations

import email
import email.header
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.utils import parsedate_to_datetime

from mailbot.errors import MailbotError
from mailbot.casework.reminders import ActionFacts, CaseFacts, MeetingFacts, Reminder, ReminderRules, due_reminders, load_reminder_rules

log = logging.getLogger("mailbot.scheduler")

__all__ = ["start_scheduler", "reminders_tick", "case_views", "CaseView", "MeetingInfo", "sent_reminder_keys",
           "local_naive_now", "DIGEST_CATCH_UP", "SENT_KEY"]

SENT_KEY = "reminders_sent"
#: a digest missed earlier today is sent at start-up if it is at most this late
DIGEST_CATCH_UP = timedelta(hours=6)
DIGEST_MISFIRE_GRACE_SECONDS = 4 * 3600


# -- facts from the store ---------------------------------------------------------

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
    from mailbot.pipeline import social_work_status

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


def _d(x: date) -> str:
    return x.strftime("%d/%m/%Y")


def _when(x: datetime) -> str:
    return x.strftime("%A %d %B %Y at %H:%M")


def _values(reminder: Reminder, view: CaseView, now_local: datetime) -> dict:
    f = reminder.facts
    v = {"code": reminder.code, "lead_agency": f.get("lead_agency") or view.case.lead_agency or "the lead agency"}
    referred = view.facts.referred_on
    v["referred_on"] = _d(referred)
    v["days_since_referral"] = (now_local.date() - referred).days
    v["follow_up_by"] = _d(referred + timedelta(days=14))
    start = f.get("meeting_start")
    meeting = view.meeting_at(start) if start else None
    v["meeting_when"] = _when(start) if start else ""
    v["meeting_date"] = _d(start.date()) if start else ""
    v["venue"] = (meeting.venue if meeting and meeting.venue else "as given in the meeting notice")
    b = f.get("birthday")
    v["birthday"] = _d(b) if b else ""
    v["days_to_birthday"] = (b - now_local.date()).days if b else ""
    v["action"] = f.get("action") or ""
    due = f.get("due_before")
    v["due_before"] = _when(due) if isinstance(due, datetime) else ""
    return v


_REASONS = {
    "no-meeting": "Reminder to the lead agency: no Network Case Meeting called yet (rules/reminders.toml)",
    "follow-up-overdue": "Two-week rule: lead agency and coordinator told that no meeting was called",
    "meeting-reminder": "Reminder of a Network Case Meeting to the invitees of its notice",
    "minutes-missing": "Reminder to the lead agency: minutes not received after a meeting",
    "turns-19-soon": "Young person turns 19 soon: lead agency and coordinator asked to plan the exit meeting",
    "turns-19": "Young person turns 19: lead agency and coordinator told",
    "action-due": "Reminder to the person responsible for an action",
}


def _addresses(ctx, reminder: Reminder, view: CaseView) -> list[str]:
    out: list[str] = []
    for r in reminder.recipients:
        if r == "coordinator":
            got = list(ctx.cfg.coordinators)
        elif r == "lead-agency":
            got = _lead_addresses(ctx, view.case) or list(ctx.cfg.coordinators)
        else:
            got = [r]
        for a in got:
            a = a.strip().lower()
            if a and "@" in a and a not in out and a != ctx.cfg.mailbox_address:
                out.append(a)
    return out


def reminders_tick(ctx) -> int:
    """Queue every reminder that is due now and not yet sent; returns how many emails were queued."""
    rules = reminder_rules(ctx)
    now_local = local_naive_now(ctx)
    views = case_views(ctx, now_local)
    by_code = {v.case.code: v for v in views}
    due = due_reminders([v.facts for v in views], now_local, rules, sent_reminder_keys(ctx.store))
    queued = failed = 0
    for reminder in due:
        view = by_code[reminder.code]
        to = _addresses(ctx, reminder, view)
        try:
            with ctx.store.transaction():  # the email(s) and the record that it was sent: both or neither
                sent = sent_reminder_keys(ctx.store)
                if reminder.key in sent:
                    continue
                if to:
                    n = ctx.queue(
                        kind=reminder.template,
                        rule_kind="meeting_notice" if reminder.kind == "meeting-reminder" else "reminder",
                        template=reminder.template, to=to, values=_values(reminder, view, now_local),
                        source=reminder.key, case_code=reminder.code, reason=_REASONS.get(reminder.kind))
                else:
                    n = 0
                    log.warning("scheduler: reminder %s has nobody to go to; skipped", reminder.key)
                sent.add(reminder.key)
                ctx.store.set_value(SENT_KEY, json.dumps(sorted(sent)))
        except Exception as exc:  # this one is retried next minute; the others still go
            failed += 1
            log.error("scheduler: reminder %s not queued (%s: %s); tried again at the next tick",
                      reminder.key, type(exc).__name__, exc if isinstance(exc, MailbotError) else "")
            continue
        queued += n
        log.info("scheduler: reminder %s queued for %d address(es)", reminder.key, n)
    if queued:
        ctx.notify_outbox()
    return queued


# -- the running scheduler -----------------------------------------------------------

def _guarded(name: str, fn, *args):
    def run():
        try:
            fn(*args)
        except Exception as exc:  # a failed firing is retried at the next one; never kills the scheduler
            log.error("scheduler: %s failed (%s); it will be tried again", name, type(exc).__name__)
            log.debug("scheduler: %s failure details", name, exc_info=True)
    return run


def digest_catch_up(ctx) -> int:
    """At start: send today's digest if its time passed less than DIGEST_CATCH_UP ago and none went out."""
    from mailbot.jobs.digest import send_digest

    now = ctx.local_now()
    hour, minute = _digest_hm(ctx.cfg.digest_time)
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at <= now < at + DIGEST_CATCH_UP:
        return send_digest(ctx, ctx.now())
    return 0


def _digest_hm(text: str) -> tuple[int, int]:
    from mailbot.errors import ConfigError

    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(text or ""))
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ConfigError(f"digest_time {text!r} must be a time of day like 07:30.")
    return int(m.group(1)), int(m.group(2))


def start_scheduler(bot):
    """Start the reminder and digest jobs for a running Bot; the caller calls .shutdown(wait=False)."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from mailbot.jobs.digest import send_digest

    ctx = bot.ctx
    tz = ctx.cfg.timezone
    hour, minute = _digest_hm(ctx.cfg.digest_time)
    reminder_rules(ctx)  # a bad rules file is reported now, not every minute
    scheduler = BackgroundScheduler(timezone=tz, executors={"default": ThreadPoolExecutor(max_workers=1)},
                                    job_defaults={"coalesce": True, "max_instances": 1})
    start = datetime.now(ctx.cfg.tz)
    scheduler.add_job(_guarded("reminders", reminders_tick, ctx), IntervalTrigger(minutes=1, timezone=tz),
                      id="reminders", name="reminders", next_run_time=start, misfire_grace_time=300)
    scheduler.add_job(_guarded("digest", lambda: send_digest(ctx, ctx.now())),
                      CronTrigger(hour=hour, minute=minute, timezone=tz), id="digest", name="digest",
                      misfire_grace_time=DIGEST_MISFIRE_GRACE_SECONDS)
    from mailbot.jobs.master_list import master_list_tick

    # a Master List held back by its window ([master_list] interval_minutes) goes when the window ends
    scheduler.add_job(_guarded("master list", master_list_tick, ctx), IntervalTrigger(minutes=1, timezone=tz),
                      id="master-list", name="master list", misfire_grace_time=300)
    scheduler.add_job(_guarded("digest catch-up", digest_catch_up, ctx), "date", run_date=start,
                      id="digest-catch-up", name="digest catch-up", misfire_grace_time=3600)
    scheduler.start()
    log.info("scheduler started: reminders and the Master List window every minute, digest daily at %02d:%02d (%s)", hour, minute, tz)
    return scheduler
