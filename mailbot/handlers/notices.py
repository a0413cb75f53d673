"""Meeting notices from a lead agency: parse, send to the members the rules choose with an .ics invitation, record.

Social Work receives a notice only where the young person is known to it,
the case is open and a social worker is allocated (rules/recipients.toml
[meeting_notice]). The notice carries the case code only: a notice that
holds a name on the Master List is refused (fail closed).

The case code may be on a "Case:" line, in the subject, or on a heading line
of the body ("Meeting notice CN78"). A sibling code (CN58A) names one young
person; the bare family number (CN58) is refused when it is ambiguous.

Calendar: one UID per meeting (mailbot.casework.calendar_invite.meeting_uid). A new
notice for a case whose announced meeting has not yet taken place is an
update of that meeting (same UID, SEQUENCE + 1); a notice marked cancelled
sends METHOD:CANCEL for it.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from mailbot.casework.calendar_invite import build_ics, meeting_uid
from mailbot.mail.compose import ICS_TYPE, Attachment
from mailbot.errors import BadField, LeakDetected, MailbotError
from mailbot.casework.consent import UNSPECIFIED
from mailbot.casework.notices import parse_notice
from mailbot.casework.sensitive import hidden_member, mask, split_recipients
from mailbot.context import Outcome, social_work_status
from mailbot.handlers.common import is_lead_or_coordinator, not_lead_problem, reply_problem

log = logging.getLogger("mailbot.notices")

_CODE_RE = re.compile(r"(?<![A-Za-z0-9])cn[ \t-]?0*([1-9]\d{0,5})([a-z])?(?![A-Za-z0-9])", re.I)
_HEADING_RE = re.compile(r"meeting\s+notice|notice\s+of\s+(?:a\s+)?(?:network\s+)?(?:case\s+)?meeting|"
                         r"network\s+case\s+meeting|case\s+meeting", re.I)
_MAX_HEADING_LINES = 15


def _codes(text: str) -> set[str]:
    return {f"CN{int(m.group(1))}{(m.group(2) or '').upper()}" for m in _CODE_RE.finditer(text or "")}


def _subject_with_heading(subject: str, body: str) -> str:
    """The subject, plus the body's heading line ("Meeting notice CN78") when the subject holds no code."""
    if _codes(subject):
        return subject
    seen = 0
    for raw in (body or "").replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line or line.startswith(">"):
            continue
        seen += 1
        if seen > _MAX_HEADING_LINES:
            break
        if _HEADING_RE.search(line) and len(_codes(line)) == 1:
            return f"{subject} {line}".strip()
    return subject


def protected_name_strings(store) -> list[str]:
    """Every name held for any case (young people, known-as, other surnames, family): a notice must hold none."""
    out: list[str] = []
    for person in store.protected_names():
        out += person.written_names()
    return sorted(set(out))


def _find_case(store, code: str):
    """The case for ``code``; CN58 matches a single sibling CN58A; an ambiguous family number is refused."""
    case = store.get_case(code)
    if case is not None:
        return case
    if code[-1].isdigit():
        family = [c for c in store.all_cases() if f"CN{c.number}" == code and c.status == "open"]
        if len(family) == 1:
            return family[0]
        if len(family) > 1:
            codes = " or ".join(c.code for c in family)
            raise BadField(f"Case {code} is a family of siblings: please give the young person's own code "
                           f"({codes}) on the Case line.", reason="ambiguous-case")
    raise BadField(f"The notice is for case {code}, which is not on the Master List. "
                   f"Please check the case code.", reason="unknown-case")


def _calendar_slot(ctx, code: str, start: datetime, cancelled: bool) -> tuple[int, int]:
    """(meeting number, SEQUENCE) for this notice; recorded in the store (inside the caller's transaction)."""
    now_local = ctx.local_now().replace(tzinfo=None)
    state = ctx.store.latest_meeting(code) or {}
    prev_start = datetime.fromisoformat(state["start"]) if state.get("start") else None
    if prev_start is not None and prev_start.tzinfo is not None:
        prev_start = prev_start.astimezone(ctx.cfg.tz).replace(tzinfo=None)
    if state and prev_start is not None and prev_start > now_local and not state.get("cancelled"):
        number, sequence = int(state["no"]), int(state["seq"]) + 1  # the announced meeting moves / is cancelled
    elif cancelled and state and not state.get("cancelled"):
        number, sequence = int(state["no"]), int(state["seq"]) + 1
    else:
        number, sequence = int(state.get("no", 0)) + 1, 0
    ctx.store.save_meeting(code, number, sequence, start.isoformat(timespec="minutes"), cancelled)
    return number, sequence


def organiser_address(ctx, case, organiser_email: str | None, sender: str) -> str | None:
    """The Reply-To of a meeting notice: the organiser, so that members' replies go to them and not to
    this mailbox. The notice's Organiser address when it is a member contact; else the lead agency
    contact who sent it; else (sent by a coordinator) the case's lead contact. Never an address from
    outside the member directory, never this mailbox."""
    ours = ctx.cfg.mailbox_address.lower()
    for candidate in (organiser_email, sender, case.lead_contact):
        a = (candidate or "").strip().lower()
        if "@" in a and a != ours and ctx.cfg.member_for(a) is not None:
            return a
    a = (sender or "").strip().lower()
    return a if "@" in a and a != ours else None


def handle_notice(ctx, email, verdict) -> Outcome:
    """A meeting notice from a case's lead agency (or the coordinator): read, checked, sent to the members
    the rules choose with an .ics invitation (an update or a cancellation of the announced meeting keeps
    its UID), recorded, and acknowledged to the sender. A notice that cannot be read or may not be sent
    is answered plainly and changes nothing."""
    case = None
    try:
        notice = parse_notice(_subject_with_heading(email.subject or "", email.text_body or ""),
                              email.text_body or "", now=ctx.local_now().replace(tzinfo=None),
                              protected_names=protected_name_strings(ctx.store))
        case = _find_case(ctx.store, notice.code)
        _check_may_send(ctx, email, case, notice)
    except MailbotError as exc:
        return _refused(ctx, email, exc, case)
    code = case.code
    to = ctx.recipients("meeting_notice", social_work=social_work_status(case), sender=email.from_address)
    number, sequence = _calendar_slot(ctx, code, notice.start, notice.cancelled)
    for view_to, hide in _views(ctx, case, to):
        if view_to:
            _send_notice(ctx, email, case, notice, view_to, hide, number=number, sequence=sequence)
    _record_notice(ctx, email, case, notice, to)
    when = _when(notice)
    ctx.queue(kind="notice-received", rule_kind="acknowledgement", template="notice-received",
              to=ctx.recipients("acknowledgement", sender=email.from_address),
              values={"code": code, "when": when + (" (cancellation)" if notice.cancelled else ""),
                      "count": len(to)},
              source=email.key, case_code=code, in_reply_to=email.message_id, references=email.references)
    log.info("meeting notice %s (meeting %d, sequence %d%s) queued for %d addresses", code, number, sequence,
             ", cancelled" if notice.cancelled else "", len(to))
    return Outcome(kind="notice", outcome="accepted", case_codes=(code,))


def _check_may_send(ctx, email, case, notice) -> None:
    """A notice is for an open case, from its lead agency or the coordinator (BadField / MailbotError)."""
    if case.status != "open":
        raise BadField(f"Case {case.code} is closed, so no meeting notice was sent.", reason="closed-case")
    if not is_lead_or_coordinator(ctx, case, email.from_address):
        raise not_lead_problem(case.code, case.lead_agency,
                               "A meeting cancellation" if notice.cancelled else "A meeting notice")


def _refused(ctx, email, exc: MailbotError, case) -> Outcome:
    """The plain answer to a notice that is not sent; the coordinator hears of a notice from a member that
    is not the lead agency, and of one that held a young person's name."""
    reply_problem(ctx, email, filename="(meeting notice)", problem=str(exc), source=email.key)
    if exc.reason == "not-lead-agency":
        ctx.tell_coordinator(title=f"[{case.code}] a meeting notice from a member that is not the lead agency",
                             details=f"From {email.from_address}: a meeting notice for {case.code} (lead "
                                     f"agency {case.lead_agency}) was refused; nothing was sent or changed. "
                                     f"The sender was told.", source=email.key, case_code=case.code)
    if isinstance(exc, LeakDetected):
        ctx.tell_coordinator(title="a meeting notice held a young person's name",
                             details=f"From {email.from_address}: the notice was not sent on; the sender was "
                                     f"asked to use the case code only.", source=email.key)
    return Outcome(kind="notice", outcome="quarantined", reason=exc.reason)


def _views(ctx, case, to: list[str]) -> list[tuple[list[str], object]]:
    """(recipients, hidden member) per version of the notice: one for all, or, when a sensitive service
    leads without consent, one for those who may see it and one showing an unspecified service."""
    hidden = hidden_member(ctx.cfg.members, case.lead_agency, ctx.store.sensitive_consent(case.code))
    if hidden is None:
        return [(to, None)]
    seeing, others = split_recipients(to, hidden, ctx.cfg.coordinators)
    return [(seeing, None), (others, hidden)]


def _when(notice) -> str:
    return notice.start.strftime("%A %d %B %Y at %H:%M")


def _send_notice(ctx, email, case, notice, view_to: list[str], hide, *, number: int, sequence: int) -> None:
    """One version of the notice, with its .ics invitation (REQUEST, or CANCEL), to ``view_to``; with
    ``hide`` (a sensitive service) its name, the organiser and their contacts are masked."""
    code = case.code
    words = (notice.organiser_name, notice.organiser_phone, notice.organiser_email, email.from_address)
    m = (lambda t: mask(t, hide, extra=words)) if hide is not None else (lambda t: t)
    organiser = ", ".join(x for x in (notice.organiser_name, notice.organiser_phone, notice.organiser_email) if x)
    description = notice.description().replace(notice.code, code)
    type_line = f"Meeting type: {notice.meeting_type}\n" if notice.meeting_type else ""
    if notice.cancelled:
        type_line = "THIS MEETING IS CANCELLED: please remove it from your calendar.\n" + type_line
    organiser_email, organiser_name = notice.organiser_email or email.from_address, notice.organiser_name or ""
    ics = build_ics(meeting_uid(code, number, ctx.cfg.domain), notice.start, notice.end, ctx.cfg.timezone,
                    summary=notice.summary().replace(notice.code, code), location=m(notice.venue),
                    description=m(description),
                    organizer_email=organiser_email if hide is None else ctx.cfg.mailbox_address,
                    organizer_name=organiser_name if hide is None else m(organiser_name or hide.agency),
                    attendee_emails=view_to, sequence=sequence,
                    method="CANCEL" if notice.cancelled else "REQUEST", now=ctx.now())
    ctx.queue(kind="meeting-cancelled" if notice.cancelled else "meeting-notice",
              rule_kind="meeting_notice", template="meeting-notice", to=view_to,
              values={"code": code, "when": _when(notice) + (" (cancelled)" if notice.cancelled else ""),
                      "venue": m(notice.venue), "lead_agency": m(case.lead_agency),
                      "organiser": organiser if hide is None else f"{UNSPECIFIED} (through the coordinator)",
                      "meeting_type_line": type_line},
              source=email.key, case_code=code, attachments=[Attachment("invite.ics", ICS_TYPE, ics)],
              # replies go to the organiser; never to a sensitive service the others may not see
              reply_to=organiser_address(ctx, case, notice.organiser_email, email.from_address)
              if hide is None else None)


def _record_notice(ctx, email, case, notice, to: list[str]) -> None:
    """The notice as a fact (not for a cancellation, nor when nobody received it), the case's next
    meeting (cleared when that meeting is cancelled), and the Master List to follow."""
    code = case.code
    start_iso = notice.start.isoformat(timespec="minutes")
    if not notice.cancelled and to:
        ctx.store.record_meeting_notice(code, start_iso, notice.venue,
                                        ctx.local_now().replace(tzinfo=None).isoformat(timespec="seconds"), to,
                                        source=email.key)
    if notice.cancelled:
        if case.next_meeting and case.next_meeting.startswith(start_iso):
            ctx.store.update_case(code, next_meeting=None)
    else:
        ctx.store.update_case(code, next_meeting=start_iso)
    ctx.store.mark_master_list_dirty(code, "meeting")
