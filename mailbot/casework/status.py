"""The texts of the coordinator's STATUS, CASE, LIST OPEN, MEMBERS and HELD answers (pure).

mailbot.handlers.control gathers the facts (from the store and mailbot.jobs.case_views) into the small
records below; this module only lays them out, in plain words. Only case codes, agencies, addresses,
ids and reasons appear: a record here has no field for a young person's name.
All datetimes are naive local wall-clock times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

__all__ = ["Overview", "ServerContact", "CaseStanding", "MeetingLine", "OpenCaseLine", "MemberLine",
           "HeldLine", "build_status", "build_case", "build_open_list", "build_members", "build_held",
           "plain_reason", "when"]


def when(x: datetime | None) -> str:
    return x.strftime("%a %d/%m/%Y %H:%M") if x else "never"


def day(x: date | None) -> str:
    return x.strftime("%a %d/%m/%Y") if x else "-"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _ids(ids: list[str], limit: int = 20) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


_REASONS = {
    "internal-error": "mailbot could not handle it (an internal error)",
    "failed-every-attempt": "it made mailbot fail at every attempt, so it was not opened again",
    "rate-limited": "too many emails from this sender at once",
    "refused": "the sender was refused",
    "not-a-coordinator": "not from a coordinator address",
    "leak-detected": "a reply would have disclosed a name",
}


def plain_reason(reason: str | None, fallback: str = "not handled automatically") -> str:
    """A stored reason as words: a code like ``bad-date`` becomes "bad date"; a sentence stays."""
    text = " ".join(str(reason or "").split())
    if not text:
        return fallback
    if text in _REASONS:
        return _REASONS[text]
    if re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", text):
        return text.replace("-", " ")
    return text[:200]


# -- STATUS ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServerContact:
    label: str                          # "the incoming mail server (IMAP)"
    ok_at: datetime | None = None
    error_at: datetime | None = None
    error: str = ""


@dataclass
class Overview:
    open_codes: list[str] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)   # pending, sending, sent, failed, held, discarded
    retrying: list[str] = field(default_factory=list)      # "O12: why"
    held_forms: list[str] = field(default_factory=list)    # H ids
    held_outgoing: list[str] = field(default_factory=list)  # O ids
    quarantined: list[str] = field(default_factory=list)   # Q ids (listed by HELD)
    quarantined_older: int = 0
    reprocessing: list[str] = field(default_factory=list)  # Q ids waiting to be handled again
    awaiting_confirmation: int = 0
    last_error: str | None = None
    servers: list[ServerContact] = field(default_factory=list)
    next_digest: datetime | None = None
    next_reminder: datetime | None = None
    reminders_due_now: int = 0
    purge_after_days: float = 30.0


def build_status(o: Overview) -> str:
    lines = []
    lines.append(f"Open cases: {len(o.open_codes)}" + (f" ({_ids(o.open_codes, 60)})" if o.open_codes else ""))
    box = o.outbox
    waiting = box.get("pending", 0) + box.get("sending", 0)
    lines.append(f"Emails waiting to be sent: {waiting} (pending {box.get('pending', 0)}, sending "
                 f"{box.get('sending', 0)}); held {box.get('held', 0)}, failed {box.get('failed', 0)}, "
                 f"discarded {box.get('discarded', 0)}, sent {box.get('sent', 0)}")
    if o.retrying:
        lines.append(f"  waiting for a retry: {'; '.join(o.retrying[:5])}")
    held = []
    if o.held_forms:
        held.append(f"{_count(len(o.held_forms), 'referral form')} ({_ids(o.held_forms)})")
    if o.held_outgoing:
        held.append(f"{_count(len(o.held_outgoing), 'outgoing email')} ({_ids(o.held_outgoing)})")
    if o.quarantined:
        held.append(f"{_count(len(o.quarantined), 'quarantined email')} ({_ids(o.quarantined)})")
    if held:
        lines.append("Held for you: " + "; ".join(held) + ". Send HELD for the reasons.")
    else:
        lines.append("Held for you: nothing.")
    if o.quarantined_older:
        lines.append(f"  and {_count(o.quarantined_older, 'quarantined email')} older than "
                     f"{o.purge_after_days:g} days, not listed (still in the Quarantine folder)")
    if o.reprocessing:
        lines.append(f"To be handled again: {_ids(o.reprocessing)}")
    lines.append(f"Commands waiting for your confirmation: {o.awaiting_confirmation}")
    lines.append(f"Last error: {o.last_error or 'none recorded'}")
    for s in o.servers:
        line = f"Last contact with {s.label}: {when(s.ok_at)}"
        if s.error_at and (s.ok_at is None or s.error_at > s.ok_at):
            line += f"; failing since {when(s.error_at)}: {s.error or 'no answer'}"
        lines.append(line)
    lines.append(f"Next digest: {when(o.next_digest)}")
    if o.reminders_due_now:
        lines.append(f"Next reminder run: within a minute ({_count(o.reminders_due_now, 'reminder')} due now)")
    elif o.next_reminder:
        lines.append(f"Next reminder: {when(o.next_reminder)} (reminders are looked at every minute)")
    else:
        lines.append("Next reminder: none scheduled")
    return "\n".join(lines)


# -- CASE ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MeetingLine:
    start: datetime
    venue: str = ""
    minutes_received: bool = False
    past: bool = False


@dataclass
class CaseStanding:
    code: str
    status: str
    lead_agency: str
    lead_contact: str = ""
    referred_on: date | None = None
    closed_on: date | None = None
    sw_known: bool | None = None
    sw_open: bool | None = None
    sw_allocated: bool = False
    detained: bool = False
    meetings: list[MeetingLine] = field(default_factory=list)
    reminders_due: list[str] = field(default_factory=list)   # "no meeting called yet (to the lead agency)"
    next_reminder: tuple[datetime, str] | None = None
    held: list[str] = field(default_factory=list)            # ids of what is held for this case


def social_work_words(known: bool | None, open_: bool | None, allocated: bool, code: str) -> str:
    if known is None:
        return f"not checked yet (reply SW {code} NOT-KNOWN, or SW {code} KNOWN ...)"
    if not known:
        return "not known to Social Work"
    if not open_:
        return "known to Social Work, its case closed"
    return "known, case open, " + ("a social worker allocated" if allocated else "no social worker allocated")


def build_case(c: CaseStanding) -> str:
    lines = [f"{c.code}: {c.status}" + (f", referred on {day(c.referred_on)}" if c.referred_on else "")
             + (f", closed on {day(c.closed_on)}" if c.closed_on else "")]
    lines.append(f"Lead agency: {c.lead_agency or '-'}" + (f" ({c.lead_contact})" if c.lead_contact else ""))
    lines.append(f"Social Work: {social_work_words(c.sw_known, c.sw_open, c.sw_allocated, c.code)}")
    if c.detained:
        lines.append("In detention: yes (RELEASED " + c.code + " when released)")
    if c.status != "open":
        lines.append("No meetings or reminders: the case is closed.")
    elif not c.meetings:
        lines.append("Meetings: none called yet")
    else:
        lines.append("Meetings:")
        for m in c.meetings:
            state = ("minutes received" if m.minutes_received else "minutes not received") if m.past else "to come"
            lines.append(f"  {when(m.start)}" + (f" at {m.venue}" if m.venue else "") + f": {state}")
    if c.status == "open":
        if c.reminders_due:
            lines.append("Reminders due now: " + "; ".join(c.reminders_due))
        if c.next_reminder:
            lines.append(f"Next reminder: {when(c.next_reminder[0])}, {c.next_reminder[1]}")
        elif not c.reminders_due:
            lines.append("Reminders: none scheduled")
    if c.held:
        lines.append("Held for you: " + ", ".join(c.held) + " (send HELD)")
    return "\n".join(lines)


# -- LIST OPEN ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OpenCaseLine:
    code: str
    lead_agency: str
    referred_on: date | None
    social_work: str          # short: "not checked", "not known", "known, closed", "known, open"
    next_meeting: datetime | None


def build_open_list(rows: list[OpenCaseLine]) -> str:
    if not rows:
        return "No case is open."
    lines = [f"{_count(len(rows), 'open case')}:"]
    for r in rows:
        lines.append(f"{r.code}  lead: {r.lead_agency or '-'}; referred {day(r.referred_on)}; Social Work: "
                     f"{r.social_work}; next meeting: {when(r.next_meeting) if r.next_meeting else 'none'}")
    return "\n".join(lines)


# -- MEMBERS ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MemberLine:
    agency: str
    contacts: tuple[str, ...]
    social_work: bool = False
    may_submit: bool = True


def build_members(rows: list[MemberLine], coordinators: list[str]) -> str:
    lines = [f"{_count(len(rows), 'member agency', 'member agencies')}:"]
    for m in rows:
        flags = [f for f, on in (("Social Work", m.social_work), ("may not submit referrals", not m.may_submit)) if on]
        lines.append(f"{m.agency}" + (f" [{', '.join(flags)}]" if flags else "") + f": {', '.join(m.contacts)}")
    lines.append(f"Coordinators: {', '.join(coordinators)}")
    return "\n".join(lines)


# -- HELD --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeldLine:
    id: str          # H3, O7, Q5
    what: str        # "CN81", "coded-referral for CN2 to a@b", "from x@y"
    since: datetime | None
    reason: str


_ACTIONS = {
    "H": "STRIP {id} <word>, RELEASE {id} <reason> or DISCARD {id}",
    "O": "RELEASE {id} <reason> or DISCARD {id}",
    "Q": "REPROCESS {id} or DISCARD {id}",
}
_TITLES = {"H": "Referral forms held for your review", "O": "Outgoing emails held (not sent)",
           "Q": "Quarantined incoming emails"}


def build_held(rows: list[HeldLine], *, older_quarantined: int = 0, purge_after_days: float = 30.0,
               reprocessing: list[str] = ()) -> str:
    if not rows and not older_quarantined and not reprocessing:
        return "Nothing is held or quarantined."
    lines: list[str] = []
    for prefix in ("H", "O", "Q"):
        mine = [r for r in rows if r.id.startswith(prefix)]
        if not mine:
            continue
        if lines:
            lines.append("")
        lines.append(f"{_TITLES[prefix]} ({len(mine)}):")
        for r in mine:
            lines.append(f"{r.id}  {r.what}, since {when(r.since)}: {r.reason}")
            lines.append(f"    {_ACTIONS[prefix].format(id=r.id)}")
    if older_quarantined:
        lines.append(f"({_count(older_quarantined, 'quarantined email')} older than {purge_after_days:g} days "
                     "not listed; still in the Quarantine folder)")
    if reprocessing:
        lines.append(f"To be handled again shortly: {', '.join(reprocessing)}")
    if purge_after_days:
        lines.append(f"Held forms and outgoing emails are removed unsent after {purge_after_days:g} days.")
    return "\n".join(lines)
