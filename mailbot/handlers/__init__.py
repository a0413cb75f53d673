"""Handlers: one per kind of incoming message. Each takes (ctx, email, verdict),
writes its effects through ctx (store, outbox) and returns an Outcome.

The order of the pipeline is in mailbot.pipeline; which handler runs is
decided by mailbot.classify.
"""

from __future__ import annotations

import logging

from mailbot.errors import LeakDetected, MailbotError
from mailbot.pipeline import Outcome

log = logging.getLogger("mailbot.handlers")

WORD_KINDS = ("docx", "doc", "docm")


def _reply_problem(ctx, email, *, filename: str, problem: str, source: str) -> None:
    ctx.queue(kind="form-problem", rule_kind="acknowledgement", template="form-problem",
              to=ctx.recipients("acknowledgement", sender=email.from_address),
              values={"filename": filename, "problem": problem}, source=source,
              in_reply_to=email.message_id, references=email.references)


def is_lead_or_coordinator(ctx, case, address: str) -> bool:
    """May this address act for the case (minutes, meeting notices, cancellations)? A coordinator, or a
    contact (still in the member directory) of the case's lead agency."""
    a = (address or "").strip().lower()
    if not a:
        return False
    if a in {c.strip().lower() for c in ctx.cfg.coordinators}:
        return True
    member = next((m for m in ctx.cfg.members if a in (c.lower() for c in m.contacts)), None)
    if member is None:
        return False
    return member.agency.lower() == (case.lead_agency or "").lower() or a == (case.lead_contact or "").lower()


def not_lead_problem(case_codes: str, lead_agency: str, what: str):
    """The plain refusal for minutes or a notice from a member that is not the case's lead agency."""
    from mailbot.errors import MailbotError

    return MailbotError(
        f"{what} for {case_codes} can only come from its lead agency ({lead_agency}) or the coordinator. "
        f"Nothing was sent or changed. If the lead agency has changed, ask the coordinator.",
        reason="not-lead-agency")


def handle_documents(ctx, email, verdict) -> Outcome:
    """A member's email with attachments: each Word file is a referral or minutes."""
    from mailbot.documents.package import open_package
    from mailbot.mail.reading import kind_of_attachment
    from mailbot.handlers.intake import handle_referral
    from mailbot.handlers.minutes import handle_minutes, looks_like_minutes

    member = verdict.member
    coordinator = verdict.role == "coordinator"
    if member is None and coordinator:
        from mailbot.mail.senders import Member

        member = Member(agency="the network coordinator", emails=[email.from_address])
    codes: list[str] = []
    outcomes: list[str] = []
    problems: list[str] = []
    kinds: set[str] = set()
    word = [a for a in email.attachments if kind_of_attachment(a) in WORD_KINDS]
    if not word:
        others = ", ".join(sorted({kind_of_attachment(a) for a in email.attachments})) or "none"
        _reply_problem(ctx, email, filename="(attachments: " + others + ")",
                       problem=("We could not find a Word document (.docx) attached. Please attach the "
                                "filled-in Referral Form or the minutes as a Word .docx file."),
                       source=email.key)
        ctx.tell_coordinator(title="an email with no Word document was quarantined",
                             details=f"From {email.from_address} ({member.agency}); attachments: {others}. "
                                     f"The sender was asked to send a .docx.",
                             source=email.key)
        return Outcome(kind="document", outcome="quarantined", reason="no-word-document")
    for index, att in enumerate(word):
        source = f"{email.key}:{index}"
        safe_name = f"attachment {index + 1}"
        try:
            # a referral form already opened and read by the helper process (a backlog): not again
            read_ahead = ctx.ahead.referral(att.data) if ctx.ahead is not None else None
            # An OLE file (old .doc, or a password-protected .docx) is told apart by open_package.
            pkg = None if read_ahead else open_package(att.data, max_file_bytes=ctx.cfg.max_email_bytes)
            if pkg is not None and looks_like_minutes(pkg):
                kinds.add("minutes")
                outcome, got, reason = handle_minutes(ctx, email, member, pkg, source=source)
            elif coordinator:
                # the coordinator referring on behalf of the agency named on the form
                from mailbot.handlers.on_behalf import handle_coordinator_referral

                kinds.add("referral")
                outcome, got, reason = handle_coordinator_referral(ctx, email, pkg, source=source,
                                                                   filename=safe_name, form=att.data,
                                                                   data=read_ahead)
            else:
                kinds.add("referral")
                outcome, got, reason = handle_referral(ctx, email, member, pkg, source=source, filename=safe_name,
                                                       form=att.data, data=read_ahead)
            codes += list(got)
            outcomes.append(outcome)
            if reason:
                problems.append(reason)
        except LeakDetected:
            raise  # the gate stopped an outgoing message: roll the whole email back, hold it (pipeline)
        except MailbotError as exc:
            # The one-line message of the referral core is the reply; it never quotes a name.
            _reply_problem(ctx, email, filename=safe_name, problem=str(exc), source=source)
            ctx.tell_coordinator(
                title=f"a document from {member.agency} was refused ({exc.reason})",
                details=f"From {email.from_address}: {exc} The sender has been told; the email is kept in "
                        f"the folder \"{ctx.cfg.quarantine_folder}\".",
                source=source)
            outcomes.append("quarantined")
            problems.append(exc.reason)
    kind = "+".join(sorted(kinds)) or "document"
    if "held" in outcomes:
        final = "held"
    elif "quarantined" in outcomes:
        final = "quarantined"
    elif "accepted" in outcomes:
        final = "accepted"
    else:
        final = outcomes[0] if outcomes else "quarantined"
    return Outcome(kind=kind, outcome=final, reason=",".join(problems), case_codes=tuple(codes))


def handle_auto(ctx, email, verdict) -> Outcome:
    """Auto-replies, bounces, our own mail: recorded, never answered (no mail loops)."""
    return Outcome(kind="auto", outcome="ignored", reason=verdict.reason or "auto-submitted")


def handle_refused(ctx, email, verdict) -> Outcome:
    """A stranger, or failed sender authentication: quarantined, no reply, into the digest."""
    log.warning("refused mail from a sender outside the directory or failing authentication: %s", verdict.reason)
    if getattr(verdict, "tell_coordinator", False):  # a From line that hides who sent it (senders.authorise)
        from mailbot.mail.senders import refusal_note

        ctx.tell_coordinator(title="an email with a misleading From line was refused",
                             details=refusal_note(email, verdict, ctx.cfg.quarantine_folder), source=email.key)
    return Outcome(kind="refused", outcome="quarantined", reason=verdict.reason or "refused")


def handle_too_large(ctx, email, verdict) -> Outcome:
    mb = ctx.cfg.max_email_bytes // (1024 * 1024)
    _reply_problem(ctx, email, filename="(the whole email)",
                   problem=f"The email is larger than {mb} MB, so it was not opened. Please send the form on its "
                           f"own, without other attachments or pictures.", source=email.key)
    ctx.tell_coordinator(title="an oversized email was quarantined",
                         details=f"From {email.from_address}: larger than {mb} MB; the sender has been told.",
                         source=email.key)
    return Outcome(kind="too-large", outcome="quarantined", reason="too-large")


def handle_other(ctx, email, verdict) -> Outcome:
    from mailbot.casework.confirm import find_confirmation, token_hash

    is_confirmation, token = find_confirmation(email.subject or "", email.text_body or "")
    if is_confirmation:
        # Only a coordinator confirms commands (mailbot.handlers.commands). A token that reached
        # someone else has leaked: it is cancelled, and nothing changes.
        request = ctx.store.pending_commands(token_hash(token)) if token else None
        if request is not None and request["status"] == "pending":
            ctx.store.finish_pending_commands(request["id"], "cancelled", "came back from a member address",
                                              now=ctx.now().timestamp())
        _reply_problem(ctx, email, filename="(the whole email)",
                       problem="Only the network coordinator can confirm commands. Nothing was changed.",
                       source=email.key)
        ctx.tell_coordinator(title="a confirmation code came from a member address",
                             details=f"From {email.from_address}: an email carrying a command confirmation "
                                     f"was refused; nothing was changed"
                                     + ("; the code it carried was cancelled." if request else "."),
                             source=email.key)
        return Outcome(kind="confirmation", outcome="quarantined", reason="confirmation-not-from-coordinator")
    problems = list(getattr(email, "problems", None) or [])
    if problems:  # e.g. an unreadable winmail.dat: say what went wrong, not "no form found"
        _reply_problem(ctx, email, filename="(the whole email)", problem=" ".join(problems), source=email.key)
        ctx.tell_coordinator(title="an email that could not be read was quarantined",
                             details=f"From {email.from_address}: {' '.join(problems)} The sender has been told.",
                             source=email.key)
        return Outcome(kind="other", outcome="quarantined", reason="unreadable")
    ctx.queue(kind="no-form", rule_kind="acknowledgement", template="no-form",
              to=ctx.recipients("acknowledgement", sender=email.from_address), values={},
              source=email.key, in_reply_to=email.message_id, references=email.references)
    ctx.tell_coordinator(title="an email with nothing to process was quarantined",
                         details=f"From {email.from_address}: no form, minutes or meeting notice found. "
                                 f"The sender has been told.",
                         source=email.key)
    return Outcome(kind="other", outcome="quarantined", reason="nothing-to-process")


def _lazy(module: str, name: str):
    def call(ctx, email, verdict):
        import importlib

        return getattr(importlib.import_module(module, __name__), name)(ctx, email, verdict)

    call.__name__ = name
    return call


HANDLERS = {
    "document": handle_documents,
    "auto": handle_auto,
    "refused": handle_refused,
    "too-large": handle_too_large,
    "other": handle_other,
    "command": _lazy(".commands", "handle_commands"),
    "notice": _lazy(".notices", "handle_notice"),
}
