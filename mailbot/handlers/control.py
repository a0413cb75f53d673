"""The coordinator's view and steering commands, carried out: STATUS, CASE, LIST OPEN, MEMBERS, HELD,
RELEASE O<n>, DISCARD O<n> / Q<n>, REPROCESS Q<n> (parsed by mailbot.casework.control).

The read-only ones gather facts from the store and mailbot.jobs.case_views (the one place case facts
are read) and lay them out with mailbot.casework.status; they need no confirmation, and their answer
goes (by email) only to the coordinator's configured address. Before any answer is given it is
checked against every name on record (the gate's text check): an answer that would hold a name is
not shown. The others change what is held and are always confirmed (registered with
``always_confirm=True``); each records its reason or decision in the audit trail.

Registered here (imported by mailbot.handlers.commands); HELD replaces the forms-only list.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta, timezone

from mailbot.casework import commands as C
from mailbot.casework import control as K
from mailbot.casework import status as S
from mailbot.handlers.commands import Refused, _case_or_error, register_command
from mailbot.store.overview import DISCARDED_OUTCOME, REPROCESS_OUTCOME

log = logging.getLogger("mailbot.commands")

_REMINDER_WORDS = {
    "no-meeting": "no meeting called yet",
    "follow-up-overdue": "two-week rule: no meeting called",
    "meeting-reminder": "meeting coming up",
    "minutes-missing": "minutes not received",
    "turns-19-soon": "turns 19 soon: plan the exit meeting",
    "turns-19": "turns 19",
    "action-due": "an action is due",
}


# -- time --------------------------------------------------------------------------------------

def _local(ctx, epoch) -> datetime | None:
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(float(epoch), timezone.utc).astimezone(ctx.cfg.tz).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _local_iso(ctx, text) -> datetime | None:
    try:
        dt = datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(ctx.cfg.tz).replace(tzinfo=None)


def _iso_epoch(text) -> float | None:
    try:
        dt = datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def _date(text) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


# -- the answer ----------------------------------------------------------------------------------

def _answer(ctx, text: str) -> str:
    """The text, unless it would hold a name on record (then nothing of it is shown)."""
    try:
        named = ctx.gate().text_has_name(text)
    except Exception as exc:  # fail closed
        log.error("the answer could not be checked for names (%s); not shown", type(exc).__name__)
        named = True
    if named:
        log.error("a coordinator answer would have held a protected name; not shown")
        raise Refused("the answer would hold a young person's name, so it is not shown. Look at the cases "
                      "one by one (CASE CN78).")
    return "\n" + text


# -- HELD ------------------------------------------------------------------------------------------

def _quarantine_cutoff(ctx) -> float | None:
    days = float(getattr(ctx.cfg, "held_purge_after_days", 30.0) or 0)
    return time.time() - days * 86400 if days else None


def held_lines(ctx) -> tuple[list[S.HeldLine], int]:
    """Everything held or quarantined (H, O, Q), and how many quarantined emails are too old to list."""
    store = ctx.store
    rows: list[S.HeldLine] = []
    for f in store.held_forms("held"):
        rows.append(S.HeldLine(f"H{f['id']}", ", ".join(f["codes"]), _local(ctx, f["created"]),
                               f"a word that looks like a name, in {f['location'] or 'the coded form'}"))
    for item in store.held_outbox_summaries():
        what = (f"{item['kind'] or 'email'}" + (f" for {item['case_code']}" if item["case_code"] else "")
                + f" to {', '.join(item['recipients'])}")
        rows.append(S.HeldLine(f"O{item['id']}", what, _local(ctx, item["created_at"]),
                               S.plain_reason(item["last_error"], "waiting for a decision")))
    cutoff = _quarantine_cutoff(ctx)
    older = 0
    for m in store.quarantined_messages():
        at = _iso_epoch(m["processed_at"] or m["received_at"])
        if cutoff is not None and at is not None and at < cutoff:
            older += 1
            continue
        rows.append(S.HeldLine(f"Q{m['rowid']}", f"from {m['sender'] or '(unknown sender)'}",
                               _local_iso(ctx, m["processed_at"] or m["received_at"]),
                               f"{m['outcome']}: {S.plain_reason(m['reason'] or m['kind'])}"))
    return rows, older


def _reprocessing(ctx) -> list[str]:
    return [f"Q{r.get('q')}" for r in ctx.store.reprocess_requests().values()]


def _held(ctx, cmd, source: str) -> str:
    rows, older = held_lines(ctx)
    return _answer(ctx, S.build_held(rows, older_quarantined=older, reprocessing=_reprocessing(ctx),
                                     purge_after_days=float(getattr(ctx.cfg, "held_purge_after_days", 30.0))))


# -- STATUS ------------------------------------------------------------------------------------------

def _last_error(ctx) -> str | None:
    store = ctx.store
    out = store.last_outgoing_problem()
    inc = store.last_incoming_problem()
    candidates = []
    if out:
        what = f"outgoing email O{out['item']}" if out.get("item") else "an outgoing email"
        detail = f" ({out['kind']}{', ' + out['case_code'] if out['case_code'] else ''})" if out["kind"] else ""
        candidates.append((float(out["at"]), f"{S.when(_local(ctx, out['at']))}, {what}{detail} "
                                             f"{out['event']}: {S.plain_reason(out['reason'])}"))
    if inc:
        at = _iso_epoch(inc["processed_at"]) or 0.0
        candidates.append((at, f"{S.when(_local(ctx, at))}, incoming email Q{inc['rowid']} from "
                               f"{inc['sender'] or '(unknown sender)'} could not be handled: "
                               f"{S.plain_reason(inc['reason'])}"))
    for name, c in ctx.store.server_contacts().items():
        if c.get("error_at") and (not c.get("ok_at") or c["error_at"] > c["ok_at"]):
            candidates.append((float(c["error_at"]), f"{S.when(_local(ctx, c['error_at']))}, the "
                                                     f"{name.upper()} server: {c.get('error') or 'no answer'}"))
    return max(candidates)[1] if candidates else None


def _next_digest(ctx, now_local: datetime) -> datetime | None:
    from mailbot.jobs.digest import LAST_DATE
    from mailbot.jobs.scheduler import _digest_hm

    hour, minute = _digest_hm(ctx.cfg.digest_time)
    at = now_local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at <= now_local or ctx.store.get_value(LAST_DATE) == now_local.date().isoformat():
        at += timedelta(days=1)
    return at


def overview(ctx) -> S.Overview:
    from mailbot.casework.reminders import due_reminders, next_due_time
    from mailbot.jobs.case_views import case_views, local_naive_now, reminder_rules, sent_reminder_keys

    store = ctx.store
    now_local = local_naive_now(ctx)
    views = case_views(ctx, now_local)
    facts = [v.facts for v in views]
    rules = reminder_rules(ctx)
    sent = sent_reminder_keys(store)
    rows, older = held_lines(ctx)
    now = ctx.now().timestamp()
    contacts = store.server_contacts()
    servers = []
    for name, label in (("imap", "the incoming mail server (IMAP)"), ("smtp", "the outgoing mail server (SMTP)")):
        c = contacts.get(name, {})
        servers.append(S.ServerContact(label, _local(ctx, c.get("ok_at")), _local(ctx, c.get("error_at")),
                                       c.get("error", "")))
    return S.Overview(
        open_codes=[c.code for c in store.open_cases()],
        outbox=store.outbox_overview(),
        retrying=[f"O{i}: {S.plain_reason(e)}" for i, e in store.outbox_retrying()],
        held_forms=[r.id for r in rows if r.id.startswith("H")],
        held_outgoing=[r.id for r in rows if r.id.startswith("O")],
        quarantined=[r.id for r in rows if r.id.startswith("Q")],
        quarantined_older=older,
        reprocessing=_reprocessing(ctx),
        awaiting_confirmation=sum(1 for r in store.pending_command_requests("pending")
                                  if float(r["expires_at"]) > now),
        last_error=_last_error(ctx),
        servers=servers,
        next_digest=_next_digest(ctx, now_local),
        next_reminder=next_due_time(facts, now_local, rules, sent),
        reminders_due_now=len(due_reminders(facts, now_local, rules, sent)),
        purge_after_days=float(getattr(ctx.cfg, "held_purge_after_days", 30.0)),
    )


def status_text(ctx) -> str:
    """What STATUS answers (also `mailbot status`)."""
    return S.build_status(overview(ctx))


def _status(ctx, cmd, source: str) -> str:
    return _answer(ctx, status_text(ctx))


# -- CASE, LIST OPEN, MEMBERS -------------------------------------------------------------------------

def _reminder_words(r) -> str:
    who = ", ".join("the lead agency" if x == "lead-agency" else "the coordinator" if x == "coordinator" else x
                    for x in r.recipients)
    return f"{_REMINDER_WORDS.get(r.kind, r.kind)} (to {who})"


def _case(ctx, cmd: K.ShowCase, source: str) -> str:
    from mailbot.casework.reminders import due_reminders
    from mailbot.jobs.case_views import case_views, local_naive_now, reminder_rules, sent_reminder_keys

    case = _case_or_error(ctx, cmd.code)
    standing = S.CaseStanding(
        code=case.code, status=case.status, lead_agency=case.lead_agency, lead_contact=case.lead_contact or "",
        referred_on=_date(case.referred_on), closed_on=_date(case.closed_on), sw_known=case.sw_known,
        sw_open=case.sw_open, sw_allocated=bool(case.sw_worker), detained=bool(case.detained))
    if case.status == "open":
        now_local = local_naive_now(ctx)
        view = next((v for v in case_views(ctx, now_local) if v.case.code == case.code), None)
        if view is not None:
            standing.meetings = [S.MeetingLine(m.start, m.venue, m.minutes_received, m.start <= now_local)
                                 for m in view.meetings]
            rules, sent = reminder_rules(ctx), sent_reminder_keys(ctx.store)
            standing.reminders_due = [_reminder_words(r) for r in due_reminders([view.facts], now_local, rules, sent)]
            upcoming = _upcoming_reminder(view.facts, now_local, rules, sent)
            if upcoming is not None:
                standing.next_reminder = (upcoming.due_at, _reminder_words(upcoming))
    rows, _older = held_lines(ctx)
    standing.held = [r.id for r in rows if r.id[0] in "HO" and case.code in r.what.replace(",", " ").split()]
    return _answer(ctx, S.build_case(standing))


def _upcoming_reminder(facts, now_local, rules, sent):
    """The next reminder of this case that is not yet due (the pure schedule, looked at a little ahead)."""
    from mailbot.casework.reminders import _all

    future = [r for r, until in _all([facts], now_local, rules, sent)
              if r.due_at > now_local and (until is None or r.due_at < until)]
    return min(future, key=lambda r: (r.due_at, r.key)) if future else None


def _sw_short(case) -> str:
    if case.sw_known is None:
        return "not checked"
    if not case.sw_known:
        return "not known"
    return "known, open" if case.sw_open else "known, closed"


def _list_open(ctx, cmd, source: str) -> str:
    from mailbot.jobs.case_views import case_views, local_naive_now

    now_local = local_naive_now(ctx)
    upcoming = {v.case.code: min((m.start for m in v.meetings if m.start > now_local), default=None)
                for v in case_views(ctx, now_local)}
    rows = [S.OpenCaseLine(c.code, c.lead_agency, _date(c.referred_on), _sw_short(c), upcoming.get(c.code))
            for c in ctx.store.open_cases()]
    return _answer(ctx, S.build_open_list(rows))


def _members(ctx, cmd, source: str) -> str:
    rows = [S.MemberLine(m.agency, tuple(m.contacts), m.social_work, m.may_submit) for m in ctx.cfg.members]
    return _answer(ctx, S.build_members(rows, list(ctx.cfg.coordinators)))


# -- RELEASE O<n>, DISCARD O<n> / Q<n>, REPROCESS Q<n> ----------------------------------------------

def _held_item(ctx, number: int) -> dict:
    item = ctx.store.outbox_summary(number)
    if item is None:
        raise Refused(f"there is no outgoing email O{number}. Send HELD for the list.")
    if item["status"] != "held":
        raise Refused(f"O{number} is not held (it is {item['status']}); nothing changed.")
    return item


def _no_name_in(ctx, text: str, what: str) -> None:
    try:
        named = ctx.gate().text_has_name(text)
    except Exception:
        named = True
    if named:
        raise Refused(f"the {what} holds a name on record (or could not be checked); write it without names.")


def _release_outgoing(ctx, cmd: K.ReleaseOutgoing, source: str) -> str:
    item = _held_item(ctx, cmd.item)
    _no_name_in(ctx, cmd.reason, "reason")
    full = ctx.store.get_outbox_item(cmd.item)
    try:
        still = ctx.gate().check_message(full.raw)
    except Exception as exc:  # fail closed
        still = f"the name check could not run ({type(exc).__name__})"
    if still:
        raise Refused(f"O{cmd.item} still fails the name check ({still}), so it stays held. DISCARD O{cmd.item} "
                      "if it should never go.")
    with ctx.store.transaction():
        ctx.store.release_held(cmd.item)
        ctx.store._audit_item(cmd.item, "released", f"O{cmd.item} released by the coordinator: {cmd.reason[:500]}")
    ctx.notify_outbox()
    log.info("held outgoing email O%d (%s) released by the coordinator", cmd.item, item["case_code"] or "-")
    return (f"O{cmd.item} ({item['kind']}{', ' + item['case_code'] if item['case_code'] else ''}) released: it goes "
            f"to {', '.join(item['recipients'])}, checked once more as it is sent (reason recorded).")


def _discard(ctx, cmd: K.DiscardItem, source: str) -> str:
    store = ctx.store
    if cmd.kind == "O":
        item = _held_item(ctx, cmd.item)
        if not store.discard_outgoing(cmd.item, "by the coordinator"):
            raise Refused(f"O{cmd.item} is no longer held; nothing changed.")
        log.info("held outgoing email O%d discarded by the coordinator", cmd.item)
        return f"O{cmd.item} ({item['kind']}) discarded: it will never be sent (its copy was removed)."
    row = store.message_by_rowid(cmd.item)
    if row is None or row["outcome"] not in ("quarantined", "held"):
        raise Refused(f"there is no quarantined email Q{cmd.item}. Send HELD for the list.")
    with store.transaction():
        store.set_message_outcome(row["key"], DISCARDED_OUTCOME)
        store.audit("quarantine", None, None, [], "coordinator", f"Q{cmd.item} discarded: no longer listed",
                    event="decision")
    return (f"Q{cmd.item} is no longer listed. The email stays in the folder \"{ctx.cfg.quarantine_folder}\" "
            "(delete it there if you wish).")


def _reprocess(ctx, cmd: K.Reprocess, source: str) -> str:
    store = ctx.store
    row = store.message_by_rowid(cmd.item)
    if row is None:
        raise Refused(f"there is no quarantined email Q{cmd.item}. Send HELD for the list.")
    if row["outcome"] == REPROCESS_OUTCOME:
        return f"Q{cmd.item} is already waiting to be handled again."
    if row["outcome"] not in ("quarantined", "held"):
        raise Refused(f"Q{cmd.item} is not in quarantine (it was {row['outcome']}); nothing changed.")
    if row["reason"] == "failed-every-attempt":
        raise Refused(f"Q{cmd.item} made mailbot fail every time it was handled, so it is not handled again. "
                      f"Read it in the folder \"{ctx.cfg.quarantine_folder}\" and deal with it by hand.")
    with store.transaction():
        store.request_reprocess(cmd.item)
        store.audit("quarantine", None, None, [], "coordinator", f"Q{cmd.item} to be handled again",
                    event="decision")
    log.info("quarantined message Q%d to be handled again", cmd.item)
    return (f"Q{cmd.item} goes back to the inbox and is handled as if it had just arrived (within a minute "
            "while mailbot runs); you get the usual answers.")


register_command(K.ShowStatus, _status, name="STATUS")
register_command(K.ShowCase, _case, name="CASE")
register_command(K.ListOpen, _list_open, name="LIST OPEN")
register_command(K.ListMembers, _members, name="MEMBERS")
register_command(C.ListHeld, _held, name="HELD")
register_command(K.ReleaseOutgoing, _release_outgoing, name="RELEASE", always_confirm=True)
register_command(K.DiscardItem, _discard, name="DISCARD", always_confirm=True)
register_command(K.Reprocess, _reprocess, name="REPROCESS", always_confirm=True)
