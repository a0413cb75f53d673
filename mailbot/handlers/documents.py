"""A member's (or the coordinator's) email with attachments: each Word file is a referral or minutes."""

from __future__ import annotations

from mailbot.context import Disposition, Kind, Outcome
from mailbot.documents.package import open_package
from mailbot.errors import LeakDetected, MailbotError
from mailbot.casework import commands as C
from mailbot.handlers.common import WORD_KINDS, answer_and_tell, configured_coordinator, refuse
from mailbot.handlers.intake import handle_referral
from mailbot.handlers.minutes import handle_minutes, looks_like_minutes
from mailbot.handlers.on_behalf import handle_coordinator_referral
from mailbot.mail.reading import kind_of_attachment
from mailbot.mail.senders import Member

#: the worst disposition among an email's documents wins
_SEVERITY = (Disposition.HELD, Disposition.QUARANTINED, Disposition.ACCEPTED)


def handle_documents(ctx, email, verdict) -> Outcome:
    """Each Word attachment is read as minutes or a referral; the email's outcome is the worst of theirs."""
    member = verdict.member
    coordinator = verdict.role == "coordinator"
    if member is None and coordinator:
        member = Member(agency="the network coordinator", emails=[email.from_address])
    word = [a for a in email.attachments if kind_of_attachment(a) in WORD_KINDS]
    if not word:
        others = ", ".join(sorted({kind_of_attachment(a) for a in email.attachments})) or "none"
        return refuse(ctx, email, kind=Kind.DOCUMENT, reason="no-word-document",
                      filename="(attachments: " + others + ")",
                      problem=("We could not find a Word document (.docx) attached. Please attach the "
                               "filled-in Referral Form or the minutes as a Word .docx file."),
                      title="an email with no Word document was quarantined",
                      details=f"From {email.from_address} ({member.agency}); attachments: {others}. "
                              f"The sender was asked to send a .docx.")
    results: list[Outcome] = []
    for index, att in enumerate(word):
        source = f"{email.key}:{index}"
        safe_name = f"attachment {index + 1}"
        try:
            results.append(_one_document(ctx, email, member, att, coordinator, source, safe_name))
        except LeakDetected:
            raise  # the gate stopped an outgoing message: roll the whole email back, hold it (pipeline)
        except MailbotError as exc:
            # The one-line message of the referral core is the reply; it never quotes a name.
            answer_and_tell(ctx, email, filename=safe_name, problem=str(exc), source=source,
                            title=f"a document from {member.agency} was refused ({exc.reason})",
                            details=f"From {email.from_address}: {exc} The sender has been told; the email is "
                                    f"kept in the folder \"{ctx.cfg.quarantine_folder}\".")
            results.append(Outcome(kind="", outcome=Disposition.QUARANTINED, reason=exc.reason))
    if coordinator:
        _commands_not_read(ctx, email)
    return _worst(results)


def _worst(results: list[Outcome]) -> Outcome:
    """The email's Outcome: the worst disposition among its documents, their kinds, reasons and codes."""
    dispositions = [r.outcome for r in results]
    final = next((d for d in _SEVERITY if d in dispositions),
                 dispositions[0] if dispositions else Disposition.QUARANTINED)
    kinds = sorted({r.kind for r in results if r.kind})
    return Outcome(kind="+".join(kinds) or Kind.DOCUMENT, outcome=final,
                   reason=",".join(r.reason for r in results if r.reason),
                   case_codes=tuple(c for r in results for c in r.case_codes))


def _one_document(ctx, email, member, att, coordinator: bool, source: str, safe_name: str) -> Outcome:
    """One Word attachment, as minutes or a referral (the Outcome's kind says which)."""
    # a referral form already opened and read by the helper process (a backlog): not again
    read_ahead = ctx.ahead.referral(att.data) if ctx.ahead is not None else None
    # An OLE file (old .doc, or a password-protected .docx) is told apart by open_package.
    pkg = None if read_ahead else open_package(att.data, max_file_bytes=ctx.cfg.max_email_bytes)
    if pkg is not None and looks_like_minutes(pkg):
        return handle_minutes(ctx, email, member, pkg, source=source)
    if coordinator:  # the coordinator referring on behalf of the agency named on the form
        return handle_coordinator_referral(ctx, email, pkg, source=source, filename=safe_name,
                                           form=att.data, referral=read_ahead)
    return handle_referral(ctx, email, member, pkg, source=source, filename=safe_name,
                           form=att.data, referral=read_ahead)


def _commands_not_read(ctx, email) -> None:
    """A coordinator's email with a Word attachment is a form or minutes: command lines in it are not run."""
    owner = configured_coordinator(ctx, email.from_address)
    if owner and any(not isinstance(c, C.CommandError) for c in C.parse_commands(email.text_body or "")):
        ctx.queue(kind="command-reply", rule_kind="acknowledgement", template="command-reply", to=[owner],
                  values={"reply": "Your email had a Word attachment, so it was handled as a Referral Form "
                                   "or minutes; the commands in it were not read. Send commands in an email "
                                   "of their own.\n"},
                  source=email.key + ":commands-not-read", in_reply_to=email.message_id,
                  references=email.references,
                  reason="Reply to the coordinator's commands, at the coordinator's configured address")
