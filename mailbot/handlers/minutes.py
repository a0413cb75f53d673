"""Minutes of a Network Case Meeting, from the lead agency: strip any Master List name, distribute, record.

The minutes are read (mailbot.documents.minutes), every name of every case on record is
stripped with the referral core's engine and verified (fail closed), then the
coded minutes go to the audience of rules/recipients.toml [minutes]
(attendees, apologies and the coordinator by default: only addresses in the
member directory receive them). The next meeting is recorded; minutes with
no next meeting date get a reply asking for one. An agreed exit closes the
case; an agreed handover changes the lead agency; both update the Master List.
An exit or handover the minutes mention without clearly recording it (unclear) is
put to the coordinator as a question with a one-time code; nothing changes until
it is confirmed.
"""

from __future__ import annotations

import logging
import re

from mailbot.documents.coding import code_document
from mailbot.mail.compose import DOCX_TYPE, Attachment
from mailbot.documents.text import all_text
from mailbot.casework.commands import normalise_code
from mailbot.errors import BadField, LeakDetected
from mailbot.documents.minutes.result import Minutes
from mailbot.people import FamilyMember, YoungPerson
from mailbot.context import Disposition, DocumentKind, Outcome, social_work_status
from mailbot.documents.sanitise import sanitised_bytes
from mailbot.handlers.commands import request_confirmation
from mailbot.handlers.common import configured_coordinator, find_member, is_lead_or_coordinator, not_lead_problem

log = logging.getLogger("mailbot.minutes")

_CODE = re.compile(r"\bCN\s?-?\d{1,6}[A-Z]?\b", re.I)
# the local part bounded and possessive: read from each letter of a long word (200,000 letters: 90 s); every
# address with a local part up to 256 characters is found as before
_EMAIL = re.compile(r"[\w.+'-]{1,256}+@[\w-]+(?:\.[\w-]+)+")


def looks_like_minutes(pkg) -> bool:
    head = all_text(pkg, include_headers=False)[:3000].lower()
    if "referral form" in head or "name of young person" in head or "young person's name" in head:
        return False
    return "minutes" in head and bool(_CODE.search(head) or "case number" in head)


def _people_on_record(store) -> tuple[list[YoungPerson], list[FamilyMember], list[str]]:
    """Every young person on record (with their case codes) and their relatives, for coding minutes."""
    children, family, codes = [], [], []
    for person, code in ((c.person, c.code) for c in store.all_cases()):
        if person is None or not person.name:
            continue
        children.append(person.young_person())
        codes.append(code)
        family += person.relatives()
    return children, family, codes


def handle_minutes(ctx, email, member, pkg, *, source: str) -> Outcome:
    """Minutes from a member: read, check the sender leads every case, strip the names on record,
    distribute, record the facts, carry out (or put to the coordinator) an exit or handover, and ask
    for the next meeting when none is given. Raises MailbotError for a problem the caller answers."""
    from mailbot.documents.minutes import parse_minutes

    minutes = parse_minutes(pkg)
    cases, label = _cases_of(ctx.store, minutes)
    case = cases[0]
    if not all(is_lead_or_coordinator(ctx, c, email.from_address) for c in cases):
        # another member's minutes change nothing: the caller replies plainly and tells the coordinator
        raise not_lead_problem(label, case.lead_agency, "Minutes")
    codes_done = tuple(c.code for c in cases)
    on_record = _people_on_record(ctx.store)
    try:
        coded = _code_minutes(ctx, pkg, minutes, on_record)
    except LeakDetected as exc:
        ctx.tell_coordinator(title=f"[{label}] minutes held: names could not be removed safely",
                             details=f"Minutes from {member.agency} for {label} failed the name check ({exc}). "
                                     f"Nothing was sent. The original is in \"{ctx.cfg.quarantine_folder}\".",
                             source=source, case_code=case.code)
        return Outcome(kind=DocumentKind.MINUTES, outcome=Disposition.HELD, reason="leak-check-failed",
                       case_codes=codes_done)
    date = minutes.date.isoformat() if minutes.date else "undated"
    attendees, known_attendees = _distribute(ctx, email, minutes, cases, coded, label=label, date=date,
                                             source=source, on_record=on_record)
    _record_received(ctx, cases, source)
    updates: dict = {}
    if minutes.next_meeting_iso:
        updates["next_meeting"] = minutes.next_meeting_iso
    exit_agreed, handover_to = _settled(ctx, email, minutes, cases, label=label, date=date, source=source)
    updates.update(_carry_out(ctx, cases, exit_agreed, handover_to, label=label, source=source))
    _record_facts(ctx.store, cases, recorded_actions(minutes, *on_record), updates, exit_agreed=exit_agreed)
    if not minutes.next_meeting_iso and not minutes.exit_agreed:
        _ask_for_next_meeting(ctx, email, label=label, case_code=case.code, source=source)
    unknown = len(attendees) - len(known_attendees)
    if unknown:
        log.info("minutes %s: %d attendee address(es) not in the member directory were not sent the minutes",
                 label, unknown)
    return Outcome(kind=DocumentKind.MINUTES, outcome=Disposition.ACCEPTED, case_codes=codes_done)


def _cases_of(store, minutes: Minutes) -> tuple[list, str]:
    """The cases the minutes are for (CN58 of a family: every open sibling) and the code to show; a
    plain BadField when the case number is no case on record."""
    raw_code = minutes.case_code or ""
    code = normalise_code(raw_code) or ""
    case = store.get_case(code) if code else None
    family = [case] if case is not None else []
    if case is None and code and code[-1].isdigit():
        # minutes of a family meeting (CN58) cover every open sibling (CN58A, CN58B)
        family = [c for c in store.all_cases() if f"CN{c.number}" == code]
        family = [c for c in family if c.status == "open"] or family
        case = family[0] if family else None
    if case is None:
        shown = code or ("none" if not raw_code.strip() else "not a case code")
        raise BadField(f"The minutes give the case number '{shown}', which is not a case on the Master "
                       f"List. Please check the case number and send the minutes again.", reason="unknown-case")
    return family, (code if len(family) > 1 else case.code)


def _code_minutes(ctx, pkg, minutes: Minutes,
                  on_record: tuple[list[YoungPerson], list[FamilyMember], list[str]]) -> bytes:
    """The minutes with every name on record removed and verified (LeakDetected when that fails);
    only sanitised when no case holds a name."""
    children, relatives, codes = on_record
    if children:
        return code_document(pkg, children, relatives, codes, exclude=_professional_words(ctx, minutes),
                             surfaces=ctx.surfaces)
    return sanitised_bytes(pkg)


def _distribute(ctx, email, minutes: Minutes, cases, coded: bytes, *, label: str, date: str,
                source: str, on_record=((), (), ())) -> tuple[list[str], list[str]]:
    """The coded minutes to the rule's audience (attendees and apologies only when they are in the
    member directory). Returns the attendees' addresses and those in the directory.

    A sensitive service that attended (or leads) a case without consent to share with such services is,
    in every other member's copy, "an unspecified service": its name, its attendees' names, addresses
    and phones are replaced in the coded minutes (stripped and verified like names) and in the email;
    the service itself and the coordinator get the minutes as they are."""
    case = cases[0]
    member_addresses = {c.lower() for m in ctx.cfg.members for c in m.contacts}
    attendees = [a.email.lower() for a in minutes.attendees if a.email]
    known_attendees = [a for a in attendees if a in member_addresses]
    # apologies are names; one written with an address ("Mark Toner, mt@agency.ie") is matched to the directory
    apologies = [e.lower() for a in minutes.apologies for e in _EMAIL.findall(a or "")]
    known_apologies = [a for a in apologies if a in member_addresses]
    to = _recipients(ctx, "minutes", cases, attendees=known_attendees, apologies=known_apologies,
                     sender=email.from_address)
    values = {"code": label, "lead_agency": case.lead_agency, "date": date,
              "next_meeting": _when(minutes.next_meeting_iso) or "not set"}
    for view_to, hidden in _sensitive_views(ctx, minutes, cases, to):
        view_coded, view_values = coded, values
        if hidden:
            view_coded, view_values = _masked(ctx, minutes, hidden, coded, values, on_record)
        att = Attachment(f"{label}-minutes-{date}.docx", DOCX_TYPE, view_coded)
        ctx.queue(kind="minutes", rule_kind="minutes", template="minutes", to=view_to, values=view_values,
                  source=source, case_code=case.code, attachments=[att])
    return attendees, known_attendees


def _sensitive_views(ctx, minutes: Minutes, cases, to: list[str]) -> list[tuple[list[str], tuple]]:
    """[(recipients, the sensitive members hidden from them)]: a sensitive service that leads or attended,
    where a case has no consent to share with such services, is hidden from everyone but itself and the
    coordinators. One group, hiding nothing, when there is none."""
    from mailbot.casework.sensitive import group_by_hidden

    if all(ctx.store.sensitive_consent(c.code) for c in cases):
        return [(to, ())]
    present = {(cases[0].lead_agency or "").strip().lower()}
    for a in minutes.attendees:
        present.add((a.agency or "").strip().lower())
        m = ctx.cfg.member_for((a.email or "").lower())
        if m is not None:
            present.add(m.agency.strip().lower())
    hidden = [m for m in ctx.cfg.members if m.sensitive and m.agency.strip().lower() in present]
    if not hidden:
        return [(to, ())]
    return group_by_hidden(to, hidden, ctx.cfg.coordinators)


def _masked(ctx, minutes: Minutes, hidden, coded: bytes, values: dict, on_record) -> tuple[bytes, dict]:
    """The coded minutes and the email's values with each hidden service shown as an unspecified service."""
    from mailbot.casework.consent import load_consent_rules
    from mailbot.casework.sensitive import mask_values
    from mailbot.handlers.sensitive import recode

    label = ctx.rules_file(load_consent_rules, watch="consent.toml").sensitive_label
    words: list[str] = []
    for m in hidden:
        words += [m.agency, *m.contacts]
        contacts = {c.lower() for c in m.contacts}
        for a in minutes.attendees:
            if (a.agency or "").strip().lower() == m.agency.strip().lower() or (a.email or "").lower() in contacts:
                words += [a.name or "", a.email or "", a.phone or ""]
    words = [w for w in words if w and len(w.strip()) > 2]
    # ``words`` holds every hidden service's name and addresses: one masking pass covers them all
    children, family, codes = on_record
    return (recode(ctx, coded, words, label, children, family, codes),
            mask_values(values, hidden[0], label=label, extra=words))


def _record_received(ctx, cases, source: str) -> None:
    received_at = ctx.local_now().replace(tzinfo=None).isoformat(timespec="seconds")
    for c in cases:  # minutes of a family's meeting are every sibling's
        ctx.store.record_minutes_received(c.code, received_at, source)


def _settled(ctx, email, minutes: Minutes, cases, *, label: str, date: str, source: str) -> tuple[bool, str | None]:
    """(exit agreed, handover to) to carry out now. An unclear exit or handover is put to the
    coordinator; one in minutes the coordinator sent waits for the coordinator's confirmation."""
    lead_agency = cases[0].lead_agency
    exit_agreed = minutes.exit.agreed
    handover_to = None if exit_agreed else (minutes.handover.to if minutes.handover.agreed else None)
    coordinator = configured_coordinator(ctx, email.from_address)
    if not exit_agreed:
        # an exit or handover the minutes raise but do not clearly record: the coordinator is asked
        # (a held decision, confirmed by the one-time code); nothing changes until then
        _ask_when_unclear(ctx, email, minutes, cases, label=label, lead_agency=lead_agency, date=date,
                          coordinator=coordinator, source=source, handover_agreed=bool(handover_to))
    if coordinator and (exit_agreed or handover_to):
        found = _confirm_with_coordinator(ctx, email, coordinator, cases, exit_agreed, handover_to,
                                          label=label, date=date, source=source)
        return False, handover_to if (handover_to and not found) else None  # "not a member": told below
    return exit_agreed, handover_to


def _confirm_with_coordinator(ctx, email, coordinator: str, cases, exit_agreed: bool, handover_to: str | None,
                              *, label: str, date: str, source: str):
    """Minutes sent by the coordinator are passed on, but an exit or handover in them changes a case's
    standing: like the EXIT and HANDOVER commands, it waits for the coordinator's confirmation (anyone
    can make an email look as if it came from the coordinator). Returns the handover's member, if any."""
    found = find_member(ctx, handover_to) if handover_to else None
    open_codes = [c.code for c in cases if c.status == "open"]
    if exit_agreed:
        lines = [f"EXIT {c} exit agreed in the minutes of {date}" for c in open_codes]
    elif found and found[0] != cases[0].lead_agency:
        lines = [f"HANDOVER {c} TO {found[0]}" for c in open_codes]
    else:
        lines = []
    if lines:
        request_confirmation(ctx, email, coordinator, lines,
                             f"The minutes for {label} you sent were passed on; what they record changes "
                             f"the case and waits for your confirmation.\n", source=source)
    return found


def _carry_out(ctx, cases, exit_agreed: bool, handover_to: str | None, *, label: str, source: str) -> dict:
    """An agreed exit closes the open cases, an agreed handover to a member changes their lead agency
    (the members are told, the Master List follows); a handover to an agency that is not a member is
    told to the coordinator. Returns the changes to make to the cases."""
    case, lead_agency = cases[0], cases[0].lead_agency
    store = ctx.store
    if exit_agreed:
        closed = {"status": "closed", "closed_on": ctx.local_now().date().isoformat()}
        store.mark_master_list_dirty([c.code for c in cases if c.status == "open"], "closed")
        ctx.queue(kind="case-closed", rule_kind="case_update", template="case-closed",
                  to=_recipients(ctx, "case_update", cases),
                  values={"code": label, "lead_agency": lead_agency}, source=source, case_code=case.code)
        return closed
    if not handover_to:
        return {}
    found = find_member(ctx, handover_to)
    if found and found[0] != lead_agency:
        store.mark_master_list_dirty([c.code for c in cases if c.status == "open"], "lead")
        ctx.queue(kind="case-handover", rule_kind="case_update", template="case-handover",
                  to=_recipients(ctx, "case_update", cases),
                  values={"code": label, "old_lead": lead_agency, "new_lead": found[0]},
                  source=source, case_code=case.code)
        return {"lead_agency": found[0], "lead_contact": found[1]}
    if not found:
        ctx.tell_coordinator(title=f"[{label}] handover to an agency that is not a member",
                             details=f"The minutes for {label} record a handover to an agency that is not "
                                     f"(or not clearly) in the member directory. The lead agency was not "
                                     f"changed; use HANDOVER {label} TO <agency> if it should be.",
                             source=source, case_code=case.code)
    return {}


def _record_facts(store, cases, actions: list[dict], updates: dict, *, exit_agreed: bool) -> None:
    """The latest meeting's actions and the case changes, on every open case the minutes are for."""
    for c in cases:
        if c.status != "open":
            continue  # minutes of a closed case are passed on; the case stays as it is
        store.set_actions(c.code, actions)  # the latest meeting's actions
        if updates:
            store.update_case(c.code, **updates)
        if "next_meeting" in updates and not exit_agreed:
            store.mark_master_list_dirty(c.code, "meeting")


def _ask_for_next_meeting(ctx, email, *, label: str, case_code: str, source: str) -> None:
    ctx.queue(kind="minutes-no-next-meeting", rule_kind="acknowledgement", template="minutes-no-next-meeting",
              to=ctx.recipients("acknowledgement", sender=email.from_address), values={"code": label},
              source=source, case_code=case_code, in_reply_to=email.message_id, references=email.references)


_WHAT = {"exit": ("exit", "an exit from the network"),
         "handover": ("handover", "a handover of the lead agency")}


def _ask_when_unclear(ctx, email, minutes: Minutes, cases, *, label: str, lead_agency: str, date: str,
                      coordinator: str | None, source: str, handover_agreed: bool) -> None:
    """Minutes that mention an exit (or a handover) but leave unclear whether it was agreed: the
    coordinator gets the question, where to look in the minutes (a section and paragraph, never their
    words) and the one-time code that carries out EXIT / HANDOVER if confirmed. If the coordinator
    does nothing, the case stays as it is."""
    open_codes = [c.code for c in cases if c.status == "open"]
    if not open_codes:
        return
    owner = coordinator or ctx.cfg.coordinators[0]
    asks: list[tuple[str, list[str], str]] = []
    if minutes.exit.unclear:
        asks.append(("exit", [f"EXIT {c} exit in the minutes of {date}, confirmed by the coordinator"
                              for c in open_codes], minutes.exit.where or "the minutes"))
    if minutes.handover.unclear and not handover_agreed:
        found = find_member(ctx, minutes.handover.to) if minutes.handover.to else None
        where = minutes.handover.where or "the minutes"
        if found and found[0] != lead_agency:
            asks.append(("handover", [f"HANDOVER {c} TO {found[0]}" for c in open_codes], where))
        elif not found:
            ctx.tell_coordinator(
                title=f"[{label}] minutes mention a handover: please check",
                details=f"The minutes for {label} (meeting of {date}) mention a handover of the lead agency, "
                        f"but it is unclear whether it was agreed, or to which member agency. Please read "
                        f"{where} of the minutes. Nothing was changed; if a handover was agreed, send "
                        f"HANDOVER {label} TO <agency>.",
                source=source, case_code=cases[0].code)
    for what, lines, where in asks:
        word, a_what = _WHAT[what]
        request_confirmation(ctx, email, owner, lines,
                             f"The minutes for {label} mention {a_what}; it is unclear whether it was agreed.\n",
                             source=f"{source}:unclear-{what}", template="minutes-unclear",
                             values={"code": label, "lead_agency": lead_agency, "date": date, "what": word,
                                     "a_what": a_what, "where": where},
                             case_code=cases[0].code)
        log.info("minutes %s: the %s is unclear; the coordinator is asked", label, what)


def _professional_words(ctx, minutes: Minutes) -> frozenset[str]:
    """The attendees', chair's and minute-taker's words and the members': never derived pet names."""
    from mailbot.handlers.intake import network_words
    from mailbot.documents.recall import allowed_words

    people = [minutes.chair or "", minutes.minutes_taker or ""]
    for a in minutes.attendees:
        people += [a.name or "", a.agency or "", a.email or ""]
    return allowed_words(*people, *(x for x in minutes.apologies if isinstance(x, str)),
                         *network_words(ctx.cfg))


def recorded_actions(minutes: Minutes, children, relatives, codes) -> list[dict]:
    """The actions decided, as kept for the action owners' reminders: each action's text with every
    name on record replaced (it is stored), and the owner's address from the attendance sheet."""
    from mailbot.documents.matcher import build_matcher
    from mailbot.documents.names import protected_names

    matcher = build_matcher(protected_names(children, relatives, codes)) if children else None
    emails = {(a.name or "").strip().lower(): a.email.lower() for a in minutes.attendees if a.email}
    out = []
    for a in minutes.actions:
        text = (a.action or "").strip()
        if not text:
            continue
        if matcher is not None:
            text, _n = matcher.sub(text)
        responsible = (a.responsible or "").strip()
        out.append({"action": text, "responsible": responsible,
                    "responsible_email": emails.get(responsible.lower()) or None})
    return out


def _recipients(ctx, rule_kind: str, cases, **kw) -> list[str]:
    """The rule's addresses; for a family, Social Work only when every sibling allows it (fail closed)."""
    lists = [ctx.recipients(rule_kind, social_work=social_work_status(c), **kw) for c in cases]
    allowed = set(lists[0]).intersection(*map(set, lists[1:]))
    return [a for a in lists[0] if a in allowed]


def _when(value: str | None) -> str | None:
    """'2027-03-01T15:30' -> 'Monday 01 March 2027 at 15:30' (the store keeps ISO)."""
    from datetime import date, datetime

    if not value:
        return None
    try:
        if "T" in value:
            return datetime.fromisoformat(value).strftime("%A %d %B %Y at %H:%M")
        return date.fromisoformat(value).strftime("%A %d %B %Y")
    except ValueError:
        return value
