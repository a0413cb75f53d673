"""The coordinator's commands, by email or `mailbot command`: parse (mailbot.casework.commands), confirm, carry out, reply.

Each command line is quoted in the reply with what was done or why not.
Everything a command changes happens inside the caller's transaction, with
the emails it causes (worker details to the lead agency, the Coded Referral
to Social Work, exit/handover notices, the Master List).

Confirmation (mailbot.casework.confirm): a command emailed to the mailbox that changes
who receives names or a case's standing is not carried out when it arrives.
It is kept (encrypted, with the SHA-256 of a one-time token), and the token is
emailed to the coordinator's own configured address. The command runs when an
email carrying ``CONFIRM <token>`` comes from that configured address before
the token expires ([commands] confirmation_hours). ``mailbot command`` on the
server's shell runs commands at once.

Registering a command
---------------------

Every command type is registered once, with :func:`register_command`::

    register_command(Strip, _strip, name="STRIP", always_confirm=True)

``run(ctx, cmd, source) -> str`` carries it out (inside the caller's
transaction) and returns the outcome sentence; it raises ``Refused("why")``
when nothing was done. ``name`` (a string, or a function of the parsed command
for commands with variants) is what rules/commands.toml lists.
``always_confirm`` (a bool, or a function of the command) makes it need the
coordinator's confirmation whatever rules/commands.toml says; otherwise it
needs confirmation when rules/commands.toml lists its name. The parser must
also read the new line into the new type (mailbot.casework.commands.parse_command_line).
A parsed command of a type nobody registered is refused, never run.

Something other than a command email that must wait for the coordinator
(an exit in minutes the coordinator sent, a held form to release) calls
:func:`request_confirmation` with the command lines to run once confirmed.
"""

from __future__ import annotations

import email as email_lib
import email.policy
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from mailbot.casework import commands as C
from mailbot.mail.compose import DOCX_TYPE, Attachment
from mailbot.casework.confirm import find_confirmation, load_confirm_rules, new_token, rule_covers, token_hash
from mailbot.context import Disposition, Kind, Outcome, social_work_status
from mailbot.handlers.common import configured_coordinator, find_member

log = logging.getLogger("mailbot.commands")

def _record_member_change(ctx, op: str, **fields) -> None:
    """A change to the member directory: a row in the store (this transaction), then the directory the
    context uses is derived again (a rolled-back change is undone there at the next message)."""
    ctx.store.add_member_change(op, now=ctx.now().timestamp(), **fields)
    ctx.refresh_members()


def _case_or_error(ctx, code: str, *, must_be_open: bool = False):
    case = ctx.store.get_case(code)
    if case is None:
        family = [c.code for c in ctx.store.all_cases() if f"CN{c.number}" == code] if code[-1:].isdigit() else []
        if family:
            raise Refused(f"{code} is a family of siblings: give the young person's own code "
                           f"({' or '.join(family)}).")
        raise Refused(f"{code} is not a case code on record.")
    if must_be_open and case.status != "open":
        raise Refused(f"{case.code} is closed; nothing changed.")
    return case


class Refused(Exception):
    """Raised by a command's ``run``: nothing was done; the message (one plain line) says why."""


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
    ctx.store.mark_master_list_dirty(case.code, "social-work")
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
    reason = " ".join((cmd.reason or "").split())
    if reason and ctx.gate().check_text(reason, "exit reason"):
        raise Refused("the reason holds a name on record. Write it without any name (the case code is "
                      "enough); nothing changed.")
    closed_on = ctx.local_now().date().isoformat()
    ctx.store.update_case(case.code, status="closed", closed_on=closed_on)
    # the reason is kept with the case and in the audit trail (names refused above)
    ctx.store.record_exit(case.code, reason=reason, closed_on=closed_on, actor="coordinator",
                          now=ctx.now().timestamp())
    ctx.store.audit("case-exit", None, case.code, [], "command",
                    f"exit by coordinator command; reason: {reason or 'not given'}", event="exit",
                    now=ctx.now().timestamp())
    ctx.store.mark_master_list_dirty(case.code, "closed")
    ctx.queue(kind="case-closed", rule_kind="case_update", template="case-closed",
              to=ctx.recipients("case_update", social_work=social_work_status(case)),
              values={"code": case.code, "lead_agency": case.lead_agency}, source=source, case_code=case.code)
    return (f"{case.code} closed and removed from the Master List; members told. Reason recorded: "
            f"{reason or 'none given'}.")


def _handover(ctx, cmd: C.Handover, source: str) -> str:
    case = _case_or_error(ctx, cmd.code, must_be_open=True)
    found = find_member(ctx, cmd.to)
    if not found:
        raise Refused(f"no single member agency matches '{cmd.to[:80]}'. Use the agency's full name or a "
                       f"member address.")
    agency, contact = found
    old = case.lead_agency
    if agency == old and contact == case.lead_contact:
        return f"{agency} is already the lead agency of {case.code}; nothing changed."
    ctx.store.update_case(case.code, lead_agency=agency, lead_contact=contact)
    ctx.store.mark_master_list_dirty(case.code, "lead")
    ctx.queue(kind="case-handover", rule_kind="case_update", template="case-handover",
              to=ctx.recipients("case_update", social_work=social_work_status(case)),
              values={"code": case.code, "old_lead": old, "new_lead": agency}, source=source, case_code=case.code)
    return f"lead agency of {case.code} changed from {old} to {agency}; members told."


def _detained(ctx, cmd, source: str, detained: bool) -> str:
    case = _case_or_error(ctx, cmd.code, must_be_open=True)
    ctx.store.update_case(case.code, detained=detained)
    ctx.store.mark_master_list_dirty(case.code, "detained" if detained else "released")
    if detained:
        return f"{case.code} recorded as in detention; the lead agency stays engaged."
    ctx.queue(kind="released-reminder", rule_kind="reminder", template="released-reminder",
              to=ctx.recipients("reminder", lead=case.lead_contact), values={"code": case.code},
              source=source, case_code=case.code)
    return f"{case.code} recorded as released; the lead agency was asked to call a meeting."


# -- the registry ---------------------------------------------------------------

@dataclass(frozen=True)
class CommandSpec:
    run: Callable  # (ctx, cmd, source) -> outcome sentence; raises Refused
    name: Callable  # (cmd) -> the command's name in rules/commands.toml
    always_confirm: Callable  # (cmd) -> True when confirmed whatever the rules say


COMMANDS: dict[type, CommandSpec] = {}


def register_command(cls: type, run: Callable, *, name: str | Callable,
                     always_confirm: bool | Callable = False) -> None:
    """Make a parsed command type runnable (see the module doc). Registering a type again replaces it."""
    name_of = name if callable(name) else (lambda _cmd, _n=" ".join(str(name).upper().split()): _n)
    always = always_confirm if callable(always_confirm) else (lambda _cmd, _a=bool(always_confirm): _a)
    COMMANDS[cls] = CommandSpec(run=run, name=name_of, always_confirm=always)


def command_name(cmd) -> str:
    spec = COMMANDS.get(type(cmd))
    return spec.name(cmd) if spec else type(cmd).__name__.upper()


def needs_confirmation(ctx, cmd) -> bool:
    """Whether an emailed command waits for the coordinator's confirmation. Unregistered: yes (never runs)."""
    spec = COMMANDS.get(type(cmd))
    if spec is None or spec.always_confirm(cmd):
        return True
    name = spec.name(cmd)
    return any(rule_covers(rule, name) for rule in ctx.rules_file(load_confirm_rules))


def _sw_name(cmd: C.SocialWorkCheck) -> str:
    if not cmd.known:
        return "SW NOT-KNOWN"
    if not cmd.open:
        return "SW KNOWN CLOSED"
    if cmd.worker_name or cmd.worker_phone or cmd.worker_email:
        return "SW KNOWN OPEN WORKER"
    return "SW KNOWN OPEN UNALLOCATED"


def _member_add(ctx, cmd: C.MemberAdd, source: str) -> str:
    _record_member_change(ctx, "add", agency=cmd.agency, email=cmd.email.lower(), social_work=cmd.social_work,
                          may_submit=cmd.may_submit)
    return f"{cmd.email} added to {cmd.agency}."


def _member_remove(ctx, cmd: C.MemberRemove, source: str) -> str:
    if not any(cmd.email.lower() in m.contacts for m in ctx.cfg.members):
        raise Refused(f"{cmd.email} is not a member address.")
    _record_member_change(ctx, "remove", email=cmd.email.lower())
    return f"{cmd.email} removed."


def _member_change(ctx, cmd: C.MemberChange, source: str) -> str:
    if not any(cmd.old_email.lower() in m.contacts for m in ctx.cfg.members):
        raise Refused(f"{cmd.old_email} is not a member address.")
    _record_member_change(ctx, "change", email=cmd.old_email.lower(), new_email=cmd.new_email.lower())
    return f"{cmd.old_email} changed to {cmd.new_email}."


def _resend(ctx, cmd, source: str) -> str:
    from mailbot.jobs.master_list import send_master_list_if_changed

    send_master_list_if_changed(ctx, force=True)
    return "the current Master List was sent to all members."


register_command(C.SocialWorkCheck, _sw, name=_sw_name,
                 always_confirm=lambda c: _sw_name(c) == "SW KNOWN OPEN WORKER")
register_command(C.ExitCase, _exit, name="EXIT", always_confirm=True)
register_command(C.Handover, _handover, name="HANDOVER", always_confirm=True)
register_command(C.Detained, lambda ctx, c, s: _detained(ctx, c, s, True), name="DETAINED")
register_command(C.Released, lambda ctx, c, s: _detained(ctx, c, s, False), name="RELEASED")
register_command(C.MemberAdd, _member_add, name="MEMBER ADD", always_confirm=True)
register_command(C.MemberRemove, _member_remove, name="MEMBER REMOVE", always_confirm=True)
register_command(C.MemberChange, _member_change, name="MEMBER CHANGE", always_confirm=True)
register_command(C.ResendMasterList, _resend, name="RESEND MASTER LIST", always_confirm=True)
register_command(C.Help, lambda ctx, c, s: "\n" + C.HELP_TEXT, name="HELP")


def _held_decision(run):
    def call(ctx, cmd, source: str) -> str:
        from mailbot.errors import MailbotError

        try:
            return run(ctx, cmd)
        except MailbotError as exc:
            raise Refused(str(exc)) from None
    return call


def _strip_held(ctx, cmd, ) -> str:
    from mailbot.handlers.held import strip_and_send
    return strip_and_send(ctx, cmd.hold, list(cmd.words))


def _release_held(ctx, cmd) -> str:
    from mailbot.handlers.held import release
    return release(ctx, cmd.hold, cmd.reason)


def _discard_held(ctx, cmd) -> str:
    from mailbot.handlers.held import discard
    return discard(ctx, cmd.hold)


def _list_held(ctx, cmd) -> str:
    from mailbot.handlers.held import list_held
    return "\n" + list_held(ctx)


# the held-form review: each decision sends (or withholds) a referral, so it is always confirmed
register_command(C.StripHeld, _held_decision(_strip_held), name="STRIP", always_confirm=True)
register_command(C.ReleaseHeld, _held_decision(_release_held), name="RELEASE", always_confirm=True)
register_command(C.DiscardHeld, _held_decision(_discard_held), name="DISCARD", always_confirm=True)
register_command(C.ListHeld, _held_decision(_list_held), name="HELD")


def _run_one(ctx, cmd, source: str) -> str:
    spec = COMMANDS.get(type(cmd))
    if spec is None:
        raise Refused("not understood.")
    return spec.run(ctx, cmd, source)


def _carry_out(ctx, cmd, source: str) -> tuple[str, bool]:
    try:
        outcome = "done: " + _run_one(ctx, cmd, source)
        log.info("coordinator command %s carried out", command_name(cmd))
        return outcome, True
    except Refused as exc:
        return f"not done: {exc}", False


def execute_commands(ctx, text: str, *, source: str, actor: str, confirmed: bool = False) -> tuple[str, bool]:
    """Run every command of ``text``; (reply, all done).

    ``confirmed=True`` (the server's shell) carries every command out at once. Without it a command
    that needs confirmation is refused here: email goes through :func:`handle_commands`."""
    results: list[tuple[str, str]] = []
    ok = True
    for i, cmd in enumerate(C.parse_commands(text)):
        if isinstance(cmd, C.CommandError):
            results.append((C.display_line(cmd), f"not done: {cmd.message}"))
            ok = False
            continue
        if not confirmed and needs_confirmation(ctx, cmd):
            results.append((C.display_line(cmd), "not done: this command needs the coordinator's confirmation."))
            ok = False
            continue
        outcome, done = _carry_out(ctx, cmd, f"{source}:cmd{i}")
        results.append((C.display_line(cmd), outcome))
        ok = ok and done
    if not results:
        return "No command was found in your email. Reply HELP for the list of commands.", False
    return C.format_reply(results), ok


# -- email: confirm first, then carry out ------------------------------------------------

def _reply(ctx, email, to: str, reply: str, *, source: str) -> None:
    ctx.queue(kind="command-reply", rule_kind="acknowledgement", template="command-reply", to=[to],
              values={"reply": reply}, source=source, in_reply_to=email.message_id, references=email.references,
              reason="Reply to the coordinator's commands, at the coordinator's configured address")


def handle_commands(ctx, email, verdict) -> Outcome:
    """A coordinator's email without a Word attachment or a meeting notice (classify routes those): a
    confirmation code, or command lines."""
    owner = configured_coordinator(ctx, email.from_address)
    if owner is None:  # classify sends only coordinators here; fail closed all the same
        return Outcome(kind=Kind.COMMAND, outcome=Disposition.QUARANTINED, reason="not-a-coordinator")
    is_confirmation, token = find_confirmation(email.subject or "", email.text_body or "")
    if is_confirmation:
        return _handle_confirmation(ctx, email, owner, token)
    return _handle_command_email(ctx, email, owner)


def _handle_command_email(ctx, email, owner: str) -> Outcome:
    results: list[tuple[str, str]] = []
    waiting: list[str] = []
    ok = True
    for i, cmd in enumerate(C.parse_commands(email.text_body or "")):
        if isinstance(cmd, C.CommandError):
            results.append((C.display_line(cmd), f"not done: {cmd.message}"))
            ok = False
        elif needs_confirmation(ctx, cmd) and _hidden_characters(cmd.line):
            # what the coordinator would be asked to confirm must read as what would run
            results.append((C.display_line(cmd), "not done: the line holds invisible or direction-changing characters. "
                                      "Type it again in a plain email."))
            ok = False
        elif needs_confirmation(ctx, cmd):
            waiting.append(cmd.line)
            results.append((C.display_line(cmd), "waiting for your confirmation (above)."))
        else:
            outcome, done = _carry_out(ctx, cmd, f"{email.key}:cmd{i}")
            results.append((C.display_line(cmd), outcome))
            ok = ok and done
    # a signature logo is not worth a remark; a PDF or another document is (it may be a form)
    others = [a for a in email.attachments if not (a.content_type or "").lower().startswith("image/")]
    if not results:
        reply = "No command was found in your email. Reply HELP for the list of commands."
        ok = False
    else:
        reply = C.format_reply(results)
    if others:
        reply += ("\nThe attachment(s) of your email were not read: only a Referral Form or minutes sent as "
                  "a Word .docx file are. Nothing in them was shared.\n")
    if not waiting:
        _reply(ctx, email, owner, reply, source=email.key)
        return Outcome(kind="command", outcome="replied", reason="" if ok else "command-errors")
    request_confirmation(ctx, email, owner, waiting, reply)
    return Outcome(kind="command", outcome="replied", reason="awaiting-confirmation")


def _hidden_characters(line: str) -> bool:
    """Format characters (bidi overrides, zero-width...) or controls that could make a quoted line read
    differently from what is parsed."""
    import unicodedata

    return any(unicodedata.category(ch) in ("Cf", "Cc") and ch not in "\t" for ch in line)


def request_confirmation(ctx, email, owner: str, lines: list[str], reply: str, *, source: str | None = None,
                         template: str = "command-confirm", values: dict | None = None,
                         case_code: str | None = None) -> None:
    """Keep command ``lines`` until ``owner`` (a configured coordinator address) confirms them, and mail
    ``owner`` the one-time code. Inside the caller's transaction. ``reply``: what else to say.
    ``template``/``values``: another email text for the code (a question the minutes left open)."""
    source = source or email.key
    token = new_token()
    now = ctx.now()
    hours = float(getattr(ctx.cfg, "confirmation_hours", 24.0))
    expires = now + timedelta(hours=hours)
    summary = ", ".join(dict.fromkeys(command_name(C.parse_command_line(line)) for line in lines))
    ctx.store.add_pending_commands(token_hash=token_hash(token), coordinator=owner, lines=lines,
                                   summary=summary, source=source, expires_at=expires.timestamp(),
                                   now=now.timestamp())
    quoted = "\n".join("> " + C.display_line(C.parse_command_line(line)) for line in lines)
    count = ctx.queue(kind="command-confirm", rule_kind="coordinator_notice", template=template,
                      to=[owner],
                      values={**(values or {}), "token": token, "commands": quoted, "count": len(lines),
                              "expires": expires.astimezone(ctx.cfg.tz).strftime("%A %d %B %Y at %H:%M"),
                              "hours": f"{hours:g}", "reply": reply},
                      source=source, in_reply_to=email.message_id, references=email.references,
                      case_code=case_code,
                      reason="Confirmation token for coordinator commands, to the coordinator's configured "
                             "address only")
    if count:
        # the token travels in this one email: its copy in the outbox is sealed like a held message
        from mailbot.mail.compose import message_id

        ctx.store.seal_outgoing(message_id("command-confirm", source, owner, domain=ctx.cfg.domain))
    log.info("%d coordinator command(s) (%s) wait for confirmation", len(lines), summary)


def _handle_confirmation(ctx, email, owner: str, token: str | None) -> Outcome:
    store = ctx.store
    now = ctx.now()
    request = store.pending_commands(token_hash(token)) if token else None
    if request is None:
        _reply(ctx, email, owner, "This confirmation code is not one I sent (or it was mistyped). Nothing was "
               "changed. Send the commands again to get a new code.\n", source=email.key)
        log.warning("a confirmation with an unknown token was refused")
        return Outcome(kind="confirmation", outcome="replied", reason="unknown-token")
    if request["status"] != "pending":
        _reply(ctx, email, owner, "This confirmation code was already used (or cancelled): a code works once. "
               "Nothing was changed.\n", source=email.key)
        log.warning("a confirmation with a used or cancelled token (request %s) was refused", request["id"])
        return Outcome(kind="confirmation", outcome="replied", reason="token-used")
    if request["coordinator"].lower() != owner.lower():
        store.finish_pending_commands(request["id"], "cancelled", "confirmed from another address",
                                      now=now.timestamp())
        _reply(ctx, email, owner, "This confirmation code was sent to another coordinator address, so it "
               "cannot be confirmed from this one. Nothing was changed, and the code no longer works.\n",
               source=email.key)
        _reply(ctx, email, request["coordinator"],
               "A confirmation code sent to you came back from another address, so it was cancelled and "
               "nothing was changed. If you still want those commands, send them again.\n",
               source=email.key + ":owner")
        log.warning("a confirmation from another address than its token's (request %s) was refused",
                    request["id"])
        return Outcome(kind="confirmation", outcome="replied", reason="token-wrong-address")
    if now.timestamp() > float(request["expires_at"]):
        store.finish_pending_commands(request["id"], "cancelled", "expired", now=now.timestamp())
        _reply(ctx, email, owner, "This confirmation code has expired. Nothing was changed. Send the commands "
               "again to get a new code.\n", source=email.key)
        return Outcome(kind="confirmation", outcome="replied", reason="token-expired")
    if not store.finish_pending_commands(request["id"], "done", "confirmed", now=now.timestamp()):
        _reply(ctx, email, owner, "This confirmation code was already used. Nothing was changed.\n",
               source=email.key)
        return Outcome(kind="confirmation", outcome="replied", reason="token-used")
    results: list[tuple[str, str]] = []
    ok = True
    for i, line in enumerate(request["lines"]):
        cmd = C.parse_command_line(line)
        if isinstance(cmd, C.CommandError):
            results.append((C.display_line(cmd), f"not done: {cmd.message}"))
            ok = False
            continue
        outcome, done = _carry_out(ctx, cmd, f"{request['source']}:confirmed:cmd{i}")
        results.append((C.display_line(cmd), outcome))
        ok = ok and done
    extra = ""
    if any(not isinstance(c, C.CommandError) for c in C.parse_commands(email.text_body or "")):
        extra = ("\nThe commands written in this email itself were not read (it was a confirmation). Send "
                 "them in an email of their own.\n")
    _reply(ctx, email, owner, "Confirmed.\n\n" + C.format_reply(results) + extra, source=email.key)
    log.info("confirmed coordinator command(s) carried out (request %s)", request["id"])
    return Outcome(kind="confirmation", outcome="replied", reason="" if ok else "command-errors")
