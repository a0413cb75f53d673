"""The coordinator's daily digest, from the store to the outbox (the I/O shell around mailbot.casework.digest).

``send_digest(ctx, now) -> int`` (emails queued) builds a
:class:`~mailbot.casework.digest.DigestSnapshot` from the store (:func:`snapshot`),
renders it with the pure :func:`mailbot.casework.digest.build_digest` (text + HTML)
and queues it to every coordinator with kind ``digest`` and source
``digest:<local date>``: the Message-ID depends only on that and the
recipient, and ``kv["digest_last_date"]`` is written in the same
transaction, so a second call on the same day queues nothing.

What goes in:

* new cases: referred yesterday or today;
* Social Work checks pending: open cases whose Social Work status is unknown;
* follow-ups: open cases with no meeting; overdue when referred
  ``follow_up_overdue_days`` (14) or more days ago, due soon from
  ``no_meeting_called_days`` (10) days after the referral;
* meetings in the next 7 days; minutes missing ``minutes_missing_days`` (7)
  after a meeting; young people turning 19 within
  ``nineteenth_birthday_weeks_before`` (8) weeks;
* emails quarantined or held since the last digest (messages table, by row
  number, so the fake clocks of tests and the real one agree);
* delivery failures: outgoing mail still held (the leak gate or a person
  must decide), and mail that failed since the last digest (audit, by id).

Before it is queued the digest passes the same leak gate as every outgoing
message (mailbot.gate, with its ordinary-word rules for first names); if a
protected name would appear it is not sent and the coordinator gets a short
alert instead (which names nobody).
Only case codes, agencies, addresses and reasons appear.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from mailbot.mail.compose import Rendered, build_message, message_id
from mailbot.casework.digest import (BirthdayItem, DeliveryFailure, DigestSnapshot, FollowUp, MeetingItem, MinutesMissing,
                     NewCase, QuarantineItem, build_digest)
from mailbot.errors import LeakDetected
from mailbot.casework.reminders import turns_19_on

log = logging.getLogger("mailbot.digest_job")

__all__ = ["send_digest", "snapshot", "DIGEST_KIND"]

DIGEST_KIND = "digest"
LAST_DATE = "digest_last_date"
MESSAGES_MARK = "digest_messages_rowid"
AUDIT_MARK = "digest_audit_id"


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _dmy(iso: str) -> str:
    return f"{iso[8:10]}/{iso[5:7]}/{iso[:4]}" if len(iso) >= 10 else (iso or "-")


def _when(text, tz) -> datetime:
    """A stored timestamp (ISO or epoch seconds) as naive local time; the epoch when unreadable."""
    try:
        if isinstance(text, (int, float)):
            dt = datetime.fromtimestamp(float(text), timezone.utc)
        else:
            dt = datetime.fromisoformat(str(text))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(tz).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime(1970, 1, 1)


def snapshot(ctx, now: datetime) -> tuple[DigestSnapshot, dict]:
    """The digest's content at ``now`` and the watermarks to record when it is sent (read-only)."""
    from mailbot.jobs.case_views import case_views, reminder_rules

    store, tz = ctx.store, ctx.cfg.tz
    rules = reminder_rules(ctx)
    now_local = now.astimezone(tz).replace(tzinfo=None) if now.tzinfo else now
    snap = DigestSnapshot()
    # the marks are taken first: what arrives while the digest is built is shown next time, never lost
    marks = {MESSAGES_MARK: store.last_message_rowid(), AUDIT_MARK: store.last_audit_id()}
    _add_cases(snap, case_views(ctx, now_local), rules, now_local)
    messages_mark = _int(store.get_value(MESSAGES_MARK))
    snap.quarantined.extend(_quarantined(store, tz, messages_mark, marks[MESSAGES_MARK]))
    audit_mark = _int(store.get_value(AUDIT_MARK))
    snap.delivery_failures.extend(_delivery_failures(store, tz, audit_mark, marks[AUDIT_MARK]))
    # consent decisions waiting; closed cases purged since the last digest (mailbot.jobs.retention)
    snap.consent_waiting = [", ".join(h["codes"]) if len(h["codes"]) == 1 else f"CN{h['number']}"
                            for h in store.consent_holds("waiting")]
    for row in _until(store.audit_rows_after(audit_mark, events=("purged",)), "id", marks[AUDIT_MARK]):
        closed = store.purged_closed_on(row["case_code"] or "") or ""
        snap.purged.append((row["case_code"] or "-", _dmy(closed)))
    snap.held_purged = store.purged_unreported()  # held items removed unsent ([held] purge_after_days)
    counts = store.outbox_counts()
    snap.counts = {
        "open cases": len(store.open_cases()),
        "emails waiting to be sent": counts.get("pending", 0) + counts.get("sending", 0),
        "emails held or failed": counts.get("held", 0) + counts.get("failed", 0),
    }
    return snap, marks


def _until(rows, column: str, mark: int):
    """``rows`` (in ``column`` order) up to the mark taken when the digest began: what came since is next time's."""
    for row in rows:
        if row[column] > mark:
            return
        yield row


def _add_cases(snap: DigestSnapshot, views, rules, now_local: datetime) -> None:
    """What each open case puts in the digest: new, Social Work check, follow-up, meetings, minutes, 19th birthday."""
    today = now_local.date()
    overdue_days = rules.follow_up_overdue_days or 14
    due_days = min(rules.no_meeting_called_days or 10, overdue_days)
    minutes_days = rules.minutes_missing_days or 7
    birthday_weeks = rules.nineteenth_birthday_weeks_before or 8
    for v in views:
        case, facts = v.case, v.facts
        if facts.referred_on >= today - timedelta(days=1):
            snap.new_cases.append(NewCase(case.code, case.lead_agency, facts.referred_on))
        if case.sw_known is None:
            snap.sw_checks_pending.append(case.code)
        if not v.meetings:
            due_on = facts.referred_on + timedelta(days=overdue_days)
            if due_on <= today:
                snap.follow_ups_overdue.append(FollowUp(case.code, case.lead_agency, due_on))
            elif facts.referred_on + timedelta(days=due_days) <= today:
                snap.follow_ups_due.append(FollowUp(case.code, case.lead_agency, due_on))
        for m in v.meetings:
            if now_local <= m.start < now_local + timedelta(days=7):
                snap.meetings_this_week.append(MeetingItem(case.code, m.start, m.venue or "see the notice"))
            if not m.minutes_received and m.start + timedelta(days=minutes_days) <= now_local:
                snap.minutes_missing.append(MinutesMissing(case.code, case.lead_agency, m.start))
        if facts.date_of_birth is not None:
            b19 = turns_19_on(facts.date_of_birth)
            if today <= b19 <= today + timedelta(weeks=birthday_weeks):
                snap.birthdays_ahead.append(BirthdayItem(case.code, b19))


def _quarantined(store, tz, since: int, mark: int) -> list[QuarantineItem]:
    """Emails quarantined or held since the last digest (by row number)."""
    out = []
    for row in _until(store.messages_after(since, outcomes=("quarantined", "held")), "rowid", mark):
        why = row["reason"] or row["kind"] or "not handled automatically"
        out.append(QuarantineItem(_when(row["received_at"] or row["processed_at"], tz),
                                  row["sender"] or "(unknown sender)", f"{row['outcome']}: {why}"))
    return out


def _delivery_failures(store, tz, since: int, mark: int) -> list[DeliveryFailure]:
    """Outgoing mail still held, then mail that failed since the last digest (audit, by id), each once."""
    out = []
    listed: set[str] = set()
    for item in store.outbox_items("held"):
        listed.add(item.message_id)
        out.append(DeliveryFailure(_when(item.created_at, tz), item.case_code, ", ".join(item.recipients),
                                   f"held, not sent: {item.last_error or 'waiting for a decision'}"))
    failed = {i.message_id: i for i in store.outbox_items("failed")}
    for row in _until(store.audit_rows_after(since, events=("failed",)), "id", mark):
        item = failed.get(row["message_id"])
        if item is None or item.message_id in listed:
            continue
        listed.add(item.message_id)
        out.append(DeliveryFailure(_when(row["at"], tz), item.case_code, ", ".join(item.recipients),
                                   item.last_error or "failed"))
    return out


def purge_held(ctx, now: float | None = None) -> list[str]:
    """Remove unsent what has been held longer than [held] purge_after_days (store.purge_held); what went.

    Ages are counted in real time, as the store records them (not the Context's clock)."""
    import time

    days = float(getattr(ctx.cfg, "held_purge_after_days", 30.0) or 0)
    if not days:
        return []
    now = time.time() if now is None else now
    purged = ctx.store.purge_held(now - days * 86400, days)
    if purged:
        log.info("purged %d held item(s) older than %g days: %s", len(purged), days, ", ".join(purged))
    return purged


def send_digest(ctx, now: datetime) -> int:
    """Queue today's digest to the coordinators (once per local day); returns the number of emails queued."""
    from mailbot.context import list_id_header
    from mailbot.store import OutboxItem

    store, cfg = ctx.store, ctx.cfg
    local = now.astimezone(cfg.tz) if now.tzinfo else now
    day = local.date().isoformat()
    source = f"digest:{day}"
    from mailbot.jobs.retention import purge_closed_cases

    purge_closed_cases(ctx, now)  # the daily job: records past their retention period go first (idempotent)
    if store.get_value(LAST_DATE) == day:
        log.info("digest for %s already queued; not again", day)
        return 0
    purge_held(ctx)  # the daily purge of what has been held too long; this digest says what went
    snap, marks = snapshot(ctx, now)
    to = [a for a in ctx.recipients("coordinator_notice")]
    if not to:
        log.warning("digest: no coordinator address is configured; nothing sent")
        return 0
    people = store.protected_names()
    try:
        subject, text, page = build_digest(snap, local.replace(tzinfo=None), templates_dir=cfg.templates_dir)
        rendered = Rendered(subject=subject, text=text, html=page)
        raws = {}
        for addr in to:
            mid = message_id(DIGEST_KIND, source, addr, domain=cfg.domain)
            raws[addr] = mid, build_message(sender=cfg.mailbox_address, sender_name=cfg.mailbox_display_name,
                                            to=[addr], rendered=rendered, msg_id=mid, kind=DIGEST_KIND, date=now,
                                            list_id=list_id_header(cfg))
        if people:
            gate = ctx.gate()  # the shared gate, rebuilt only when a case's names change
            for _mid, raw in raws.values():
                reason = gate.check_message(raw)
                if reason:
                    raise LeakDetected(f"The digest failed the name check ({reason}).")
    except LeakDetected:
        log.error("digest for %s withheld: it would have contained a protected name", day)
        with store.transaction():
            ctx.tell_coordinator(title=f"the digest for {day} was not sent",
                                 details="Today's digest would have contained a young person's name, so it "
                                         "was not sent. Please look at the quarantined emails and the "
                                         "outbox directly.", source=source)
            store.set_value(LAST_DATE, day)
        ctx.notify_outbox()
        return 0
    rule = ctx.rules["coordinator_notice"]
    queued = 0
    with store.transaction():
        if store.get_value(LAST_DATE) == day:
            return 0
        for addr, (mid, raw) in raws.items():
            if store.enqueue(OutboxItem(message_id=mid, kind=DIGEST_KIND, case_code=None,
                                          sender=cfg.mailbox_address, recipients=[addr], raw=raw,
                                          rule=rule.kind, reason="Daily digest for the network coordinator")):
                queued += 1
        store.set_value(LAST_DATE, day)
        for name, value in marks.items():
            store.set_value(name, str(value))
        if snap.held_purged:
            store.clear_purged_unreported()
    log.info("digest for %s queued for %d coordinator address(es): %d case(s) pending a Social Work check, "
             "%d quarantined", day, queued, len(snap.sw_checks_pending), len(snap.quarantined))
    ctx.notify_outbox()
    return queued
