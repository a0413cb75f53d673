"""Time-driven work of the running bot: reminders (every minute) and the coordinator's daily digest.

``start_scheduler(bot) -> BackgroundScheduler`` (APScheduler 3.x, in the
network's time zone) runs its jobs in ONE worker thread, so they never
overlap (the Master List's window, every minute, is the third:
:func:`mailbot.jobs.master_list.master_list_tick`):

* ``reminders_tick(ctx)`` every minute, and once at start: the facts of every
  open case are read from the store (:func:`case_views`), the pure
  :func:`mailbot.casework.reminders.due_reminders` says what is due, and each due
  reminder is queued in the outbox in the SAME store transaction that
  records its key in the ``reminders_sent`` table. A crash therefore either loses
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

import logging
import re
import threading
import traceback
from datetime import date, datetime, timedelta

from mailbot.errors import MailbotError
from mailbot.casework.reminders import Reminder, due_reminders
from mailbot.jobs.case_views import (SENT_KEY, CaseView, MeetingInfo, _lead_addresses, case_views,  # noqa: F401
                                     local_naive_now, reminder_rules, sent_reminder_keys)

log = logging.getLogger("mailbot.scheduler")

__all__ = ["start_scheduler", "reminders_tick", "case_views", "CaseView", "MeetingInfo", "sent_reminder_keys",
           "local_naive_now", "DIGEST_CATCH_UP", "SENT_KEY"]

#: a digest missed earlier today is sent at start-up if it is at most this late
DIGEST_CATCH_UP = timedelta(hours=6)
DIGEST_MISFIRE_GRACE_SECONDS = 4 * 3600


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
                if reminder.key in sent_reminder_keys(ctx.store):
                    continue
                if to:
                    from mailbot.casework.sensitive import mask_values, views

                    n = 0
                    values = _values(reminder, view, now_local)
                    # a sensitive lead without consent: an unspecified service to the other members
                    for view_to, hide in views(ctx.cfg.members, ctx.cfg.coordinators, view.case.lead_agency,
                                               ctx.store.sensitive_consent(view.case.code), to):
                        n += ctx.queue(
                            kind=reminder.template,
                            rule_kind="meeting_notice" if reminder.kind == "meeting-reminder" else "reminder",
                            template=reminder.template, to=view_to,
                            values=values if hide is None else mask_values(values, hide),
                            source=reminder.key, case_code=reminder.code, reason=_REASONS.get(reminder.kind))
                else:
                    n = 0
                    log.warning("scheduler: reminder %s has nobody to go to; skipped", reminder.key)
                ctx.store.mark_reminder_sent(reminder.key, now=ctx.now().timestamp())
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
            # where it failed, never the exception's message (the Master List and reminders hold names:
            # a library's message can quote a value, e.g. openpyxl's IllegalCharacterError)
            log.debug("scheduler: %s failed here (message omitted):\n%s", name,
                      "".join(traceback.format_tb(exc.__traceback__)))
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
    catch_up = _guarded("digest catch-up", digest_catch_up, ctx)
    tick = _guarded("reminders", reminders_tick, ctx)
    started = threading.Event()

    def reminders() -> None:
        # the first run, at start, first sends a digest missed earlier today (digest_catch_up): one job,
        # so no one-shot job is left for APScheduler to remove (it raced with its own bookkeeping)
        if not started.is_set():
            started.set()
            catch_up()
        tick()

    scheduler.add_job(reminders, IntervalTrigger(minutes=1, timezone=tz),
                      id="reminders", name="reminders", next_run_time=start, misfire_grace_time=300)
    scheduler.add_job(_guarded("digest", lambda: send_digest(ctx, ctx.now())),
                      CronTrigger(hour=hour, minute=minute, timezone=tz), id="digest", name="digest",
                      misfire_grace_time=DIGEST_MISFIRE_GRACE_SECONDS)
    from mailbot.jobs.master_list import master_list_tick

    # a Master List held back by its window ([master_list] interval_minutes) goes when the window ends
    scheduler.add_job(_guarded("master list", master_list_tick, ctx), IntervalTrigger(minutes=1, timezone=tz),
                      id="master-list", name="master list", misfire_grace_time=300)
    scheduler.start()
    log.info("scheduler started: reminders and the Master List window every minute, digest daily at %02d:%02d (%s)", hour, minute, tz)
    return scheduler
