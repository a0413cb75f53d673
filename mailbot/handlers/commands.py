"""The coordinator's commands, by email or `mailbot command`: parse (mailbot.commands), carry out, reply.

Each command line is quoted in the reply with what was done or why not.
Everything a command changes happens inside the caller's transaction, with
the emails it causes (worker details to the lead agency, the Coded Referral
to Social Work, exit/handover notices, the Master List).
"""

from __future__ import annotations

import email as email_lib
import email.policy
import json
import logging

from .. import commands as C
from ..compose import DOCX_TYPE, Attachment
from ..config import MemberConfig
from ..pipeline import Outcome, social_work_status

log = logging.getLogger("mailbot.commands")

MEMBER_OVERRIDES = "member_overrides"


# -- member directory changes (kept in the store, applied over the config) --

def apply_member_overrides(cfg, store) -> None:
    ops = json.loads(store.get_value(MEMBER_OVERRIDES) or "[]")
    members = list(cfg.members)
    for op in ops:
        members = _apply(members, op)
    cfg.members = members


def _apply(members: list[MemberConfig], op: dict) -> list[MemberConfig]:
    out = []
    if op["op"] == "add":
        done = False
        for m in members:
            if m.agency.lower() == op["agency"].lower() and not done:
                m = MemberConfig(m.agency, tuple(dict.fromkeys(m.contacts + (op["email"],))),
                                 m.social_work or op["social_work"], m.may_submit and op["may_submit"])
                done = True
            out.append(m)
        if not done:
            out.append(MemberConfig(op["agency"], (op["email"],), op["social_work"], op["may_submit"]))
        return out
    for m in members:
        contacts = m.contacts
        if op["op"] == "remove":
            contacts = tuple(c for c in contacts if c != op["email"])
        elif op["op"] == "change":
            contacts = tuple(op["new"] if c == op["old"] else c for c in contacts)
        if contacts:
            out.append(MemberConfig(m.agency, contacts, m.social_work, m.may_submit))
    return out


def _record_member_op(ctx, op: dict) -> None:
    ops = json.loads(ctx.store.get_value(MEMBER_OVERRIDES) or "[]")
    ops.append(op)
    ctx.store.set_value(MEMBER_OVERRIDES, json.dumps(ops))
    ctx.cfg.members = _apply(list(ctx.cfg.members), op)


# -- helpers ------------------------------------------------------------------

def _case_or_error(ctx, code: str, *, must_be_open: bool = False):
    case = ctx.store.get_case(code)
    if case is None:
        family = [c.code for c in ctx.store.all_cases() if f"CN{c.number}" == code] if code[-1:].isdigit() else []
        if family:
            raise _Refused(f"{code} is a family of siblings: give the young person's own code "
                           f"({' or '.join(family)}).")
        raise _Refused(f"{code} is not a case code on record.")
    if must_be_open and case.status != "open":
        raise _Refused(f"{case.code} is closed; nothing changed.")
    return case


class _Refused(Exception):
    pass


def _coded_referral_attachment(ctx, case) -> Attachment | None:
    """The Coded Referral already sent for this case (it holds no name), taken from the outbox."""
    for label in dict.fromkeys((case.code, f"CN{case.number}")):  # a sibling's goes out under the family number
        for item in ctx.store.outbox_items_of_kind("coded-referral", label):
            msg = email_lib.message_from_bytes(item.raw, policy=email.policy.default)
            for part in msg.iter_attachments():
                return Attachment(part.get_filename(), DOCX_TYPE, part.get_content())
    return None


# -- each command ---------------------------------------------------------------

def _sw(ctx, cmd: C.SocialWorkCheck, source: str) -> str:
    case = _case_or_error(ctx, cmd.code, must_be_open=True)
    worker = None
    if cmd.worker_name or cmd.worker_email or cmd.worker_phone:
        worker = {"name": cmd.worker_name or "", "phone": cmd.worker_phone or "", "email": cmd.worker_email or ""}
    ctx.store.update_case(case.code, sw_known=cmd.known, sw_open=cmd.open if cmd.known else None, sw_worker=worker)
    ctx.store.mark_master_list_dirty()
    case = ctx.store.get_case(case.code)
    done = [f"recorded: {'known' if cmd.known else 'not known'} to Social Work"
            + (f", case {'open' if cmd.open else 'closed'}" if cmd.known else "")]
    if worker:
        ctx.queue(kind="social-work-details", rule_kind="social_work_details", template="social-work-details",
                  to=ctx.recipients("social_work_details", lead=case.lead_contact),
                  values={"code": case.code, "lead_agency": case.lead_agency, "worker_name": worker["name"],
                          "worker_phone": worker["phone"] or "-", "worker_email": worker["email"] or "-"},
                  source=source, case_code=case.code)
        done.append(f"the worker's details were sent to the lead agency ({case.lead_agency})")
    if cmd.known:
        sw_members = [c for m in ctx.cfg.members if m.social_work for c in m.contacts]
        to = [a for a in ctx.recipients("coded_referral", social_work=social_work_status(case)) if a in sw_members]
        att = _coded_referral_attachment(ctx, case)
        if to and att:
            ctx.queue(kind="coded-referral", rule_kind="coded_referral", template="coded-referral", to=to,
                      values={"code": case.code, "lead_agency": case.lead_agency,
                              "referred_on": case.referred_on or ""},
                      source=f"sw:CN{case.number}", case_code=case.code, attachments=[att])
            done.append("the Coded Referral was sent to Social Work")
        elif to:
            done.append("no Coded Referral is on record to send to Social Work (please send it by hand)")
    return "; ".join(done) + "."


def _exit(ctx, cmd: C.ExitCase, source: str) -> str:
    case = _case_or_error(ctx, cmd.code)
    if case.status != "open":
        return f"{case.code} is already closed; nothing changed."
    ctx.store.update_case(case.code, status="closed", closed_on=ctx.local_now().date().isoformat())
    ctx.store.mark_master_list_dirty()
    ctx.queue(kind="case-closed", rule_kind="case_update", template="case-closed",
              to=ctx.recipients("case_update", social_work=social_work_status(case)),
              values={"code": case.code, "lead_agency": case.lead_agency}, source=source, case_code=case.code)
    return f"{case.code} closed and removed from the Master List; members told."


def _find_member(ctx, to: str) -> tuple[str, str] | None:
    """(agency, contact) for a member address or agency name; None when nothing or more than one agency matches."""
    t = " ".join(to.strip().lower().split())
    if not t:
        return None
    for m in ctx.cfg.members:
        if t in (c.lower() for c in m.contacts):
            return m.agency, t
    for m in ctx.cfg.members:
        if m.agency.lower() == t:
            return m.agency, m.contacts[0]
    partial = [m for m in ctx.cfg.members if t in m.agency.lower()]
    if len({m.agency for m in partial}) == 1:
        return partial[0].agency, partial[0].contacts[0]
    return None  # unknown, or ambiguous ("Lisnavar" matches several agencies): fail closed


def _handover(ctx, cmd: C.Handover, source: str) -> str:
    case = _case_or_error(ctx, cmd.code, must_be_open=True)
    found = _find_member(ctx, cmd.to)
    if not found:
        raise _Refused(f"no single member agency matches '{cmd.to[:80]}'. Use the agency's full name or a "
                       f"member address.")
    agency, contact = found
    old = case.lead_agency
    if agency == old and contact == case.lead_contact:
        return f"{agency} is already the lead agency of {case.code}; nothing changed."
    ctx.store.update_case(case.code, lead_agency=agency, lead_contact=contact)
    ctx.store.mark_master_list_dirty()
    ctx.queue(kind="case-handover", rule_kind="case_update", template="case-handover",
              to=ctx.recipients("case_update", social_work=social_work_status(case)),
              values={"code": case.code, "old_lead": old, "new_lead": agency}, source=source, case_code=case.code)
    return f"lead agency of {case.code} changed from {old} to {agency}; members told."


def _detained(ctx, cmd, source: str, detained: bool) -> str:
    case = _case_or_error(ctx, cmd.code, must_be_open=True)
    ctx.store.update_case(case.code, detained=detained)
    ctx.store.mark_master_list_dirty()
    if detained:
        return f"{case.code} recorded as in detention; the lead agency stays engaged."
    ctx.queue(kind="released-reminder", rule_kind="reminder", template="released-reminder",
              to=ctx.recipients("reminder", lead=case.lead_contact), values={"code": case.code},
              source=source, case_code=case.code)
    return f"{case.code} recorded as released; the lead agency was asked to call a meeting."


def _run_one(ctx, cmd, source: str) -> str:
    from ..master_list_job import send_master_list_if_changed

    if isinstance(cmd, C.SocialWorkCheck):
        return _sw(ctx, cmd, source)
    if isinstance(cmd, C.ExitCase):
        return _exit(ctx, cmd, source)
    if isinstance(cmd, C.Handover):
        return _handover(ctx, cmd, source)
    if isinstance(cmd, C.Detained):
        return _detained(ctx, cmd, source, True)
    if isinstance(cmd, C.Released):
        return _detained(ctx, cmd, source, False)
    if isinstance(cmd, C.MemberAdd):
        _record_member_op(ctx, {"op": "add", "agency": cmd.agency, "email": cmd.email.lower(),
                                "social_work": cmd.social_work, "may_submit": cmd.may_submit})
        return f"{cmd.email} added to {cmd.agency}."
    if isinstance(cmd, C.MemberRemove):
        if not any(cmd.email.lower() in m.contacts for m in ctx.cfg.members):
            raise _Refused(f"{cmd.email} is not a member address.")
        _record_member_op(ctx, {"op": "remove", "email": cmd.email.lower()})
        return f"{cmd.email} removed."
    if isinstance(cmd, C.MemberChange):
        if not any(cmd.old_email.lower() in m.contacts for m in ctx.cfg.members):
            raise _Refused(f"{cmd.old_email} is not a member address.")
        _record_member_op(ctx, {"op": "change", "old": cmd.old_email.lower(), "new": cmd.new_email.lower()})
        return f"{cmd.old_email} changed to {cmd.new_email}."
    if isinstance(cmd, C.ResendMasterList):
        send_master_list_if_changed(ctx, force=True)
        return "the current Master List was sent to all members."
    if isinstance(cmd, C.Help):
        return "\n" + C.HELP_TEXT
    raise _Refused("not understood.")


def execute_commands(ctx, text: str, *, source: str, actor: str) -> tuple[str, bool]:
    results: list[tuple[str, str]] = []
    ok = True
    for i, cmd in enumerate(C.parse_commands(text)):
        if isinstance(cmd, C.CommandError):
            results.append((cmd.line, f"not done: {cmd.message}"))
            ok = False
            continue
        try:
            results.append((cmd.line, "done: " + _run_one(ctx, cmd, f"{source}:cmd{i}")))
            log.info("coordinator command %s carried out", type(cmd).__name__)
        except _Refused as exc:
            results.append((cmd.line, f"not done: {exc}"))
            ok = False
    if not results:
        return "No command was found in your email. Reply HELP for the list of commands.", False
    return C.format_reply(results), ok


def handle_commands(ctx, email, verdict) -> Outcome:
    reply, ok = execute_commands(ctx, email.text_body or "", source=email.key, actor=email.from_address)
    ctx.queue(kind="command-reply", rule_kind="acknowledgement", template="command-reply",
              to=ctx.recipients("acknowledgement", sender=email.from_address), values={"reply": reply},
              source=email.key, in_reply_to=email.message_id)
    return Outcome(kind="command", outcome="replied" if ok else "replied", reason="" if ok else "command-errors")
