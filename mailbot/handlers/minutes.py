"""Minutes of a Network Case Meeting, from the lead agency: strip any Master List name, distribute, record.

The minutes are read (mailbot.minutes), every name of every case on record is
stripped with the referral core's engine and verified (fail closed), then the
coded minutes go to the audience of rules/recipients.toml [minutes]
(attendees, apologies and the coordinator by default: only addresses in the
member directory receive them). The next meeting is recorded; minutes with
no next meeting date get a reply asking for one. An agreed exit closes the
case; an agreed handover changes the lead agency; both update the Master List.
"""

from __future__ import annotations

import logging
import re

from ..coding import code_document
from ..compose import DOCX_TYPE, Attachment
from ..docx_text import all_text
from ..errors import BadField, LeakDetected
from ..pipeline import social_work_status

log = logging.getLogger("mailbot.minutes")

_CODE = re.compile(r"\bCN\s?-?\d{1,6}[A-Z]?\b", re.I)


def looks_like_minutes(pkg) -> bool:
    head = all_text(pkg, include_headers=False)[:3000].lower()
    if "referral form" in head or "name of young person" in head or "young person's name" in head:
        return False
    return "minutes" in head and bool(_CODE.search(head) or "case number" in head)


def _people_on_record(store) -> tuple[list[dict], list[dict], list[str]]:
    children, family, codes = [], [], []
    for person, code in ((c.person, c.code) for c in store.all_cases()):
        if not person or not person.get("name"):
            continue
        children.append(person)
        codes.append(code)
        family += [{"name": n, "relationship": "family member"} for n in person.get("family", [])]
    return children, family, codes


def handle_minutes(ctx, email, member, pkg, *, source: str):
    from ..minutes import parse_minutes

    store = ctx.store
    minutes = parse_minutes(pkg).to_json()
    code = (minutes.get("case_code") or "").upper().replace(" ", "").replace("-", "")
    case = store.get_case(code) if code else None
    if case is None and code:
        siblings = [c for c in store.all_cases() if f"CN{c.number}" == code]
        case = siblings[0] if siblings else None
    if case is None:
        raise BadField(f"The minutes give the case number '{code or 'none'}', which is not a case on the Master "
                       f"List. Please check the case number and send the minutes again.", reason="unknown-case")
    children, family, codes = _people_on_record(store)
    try:
        coded = code_document(pkg, children, family, codes) if children else pkg.to_bytes()
    except LeakDetected as exc:
        ctx.tell_coordinator(title=f"[{case.code}] minutes held: names could not be removed safely",
                             details=f"Minutes from {member.agency} for {case.code} failed the name check ({exc}). "
                                     f"Nothing was sent. The original is in \"{ctx.cfg.quarantine_folder}\".",
                             source=source, case_code=case.code)
        return "held", (case.code,), "leak-check-failed"

    member_addresses = {c for m in ctx.cfg.members for c in m.contacts}
    attendees = [a["email"].lower() for a in minutes.get("attendees", []) if a.get("email")]
    known_attendees = [a for a in attendees if a in member_addresses]
    to = ctx.recipients("minutes", attendees=known_attendees, social_work=social_work_status(case),
                        sender=email.from_address)
    date = minutes.get("date") or "undated"
    att = Attachment(f"{case.code}-minutes-{date}.docx", DOCX_TYPE, coded)
    ctx.queue(kind="minutes", rule_kind="minutes", template="minutes", to=to,
              values={"code": case.code, "lead_agency": case.lead_agency, "date": date,
                      "next_meeting": minutes.get("next_meeting") or "not set"},
              source=source, case_code=case.code, attachments=[att])

    updates = {}
    if minutes.get("next_meeting"):
        updates["next_meeting"] = minutes["next_meeting"]
    if minutes.get("exit_agreed"):
        updates.update(status="closed", closed_on=ctx.local_now().date().isoformat())
        store.mark_master_list_dirty()
        ctx.queue(kind="case-closed", rule_kind="case_update", template="case-closed",
                  to=ctx.recipients("case_update", social_work=social_work_status(case)),
                  values={"code": case.code, "lead_agency": case.lead_agency}, source=source, case_code=case.code)
    elif minutes.get("handover_to"):
        from .commands import _find_member

        found = _find_member(ctx, minutes["handover_to"])
        if found and found[0] != case.lead_agency:
            updates.update(lead_agency=found[0], lead_contact=found[1])
            store.mark_master_list_dirty()
            ctx.queue(kind="case-handover", rule_kind="case_update", template="case-handover",
                      to=ctx.recipients("case_update", social_work=social_work_status(case)),
                      values={"code": case.code, "old_lead": case.lead_agency, "new_lead": found[0]},
                      source=source, case_code=case.code)
        elif not found:
            ctx.tell_coordinator(title=f"[{case.code}] handover to an agency that is not a member",
                                 details=f"The minutes for {case.code} record a handover to an agency that is "
                                         f"not in the member directory. The lead agency was not changed.",
                                 source=source, case_code=case.code)
    if updates:
        store.update_case(case.code, **updates)
    if "next_meeting" in updates and store.get_case(case.code).next_meeting:
        store.mark_master_list_dirty()
    if not minutes.get("next_meeting") and not minutes.get("exit_agreed"):
        ctx.queue(kind="minutes-no-next-meeting", rule_kind="acknowledgement", template="minutes-no-next-meeting",
                  to=ctx.recipients("acknowledgement", sender=email.from_address), values={"code": case.code},
                  source=source, case_code=case.code, in_reply_to=email.message_id)
    unknown = len(attendees) - len(known_attendees)
    if unknown:
        log.info("minutes %s: %d attendee address(es) not in the member directory were not sent the minutes",
                 case.code, unknown)
    return "accepted", (case.code,), ""
