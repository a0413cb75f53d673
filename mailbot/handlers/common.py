"""What the handlers share: replying to a sender about a problem, telling the coordinator, and who may act
for a case. A handler that refuses an email does it with :func:`refuse` (reply, tell, quarantine: once)."""

from __future__ import annotations

from mailbot.context import Disposition, Outcome
from mailbot.errors import MailbotError

from mailbot.classify import WORD_KINDS  # noqa: F401 (one list, used by handlers and the read-ahead)

WHOLE_EMAIL = "(the whole email)"


def reply_problem(ctx, email, *, filename: str, problem: str, source: str, template: str = "form-problem",
                  values: dict | None = None) -> None:
    """A plain-language answer to the sender (a reply that threads)."""
    ctx.queue(kind=template, rule_kind="acknowledgement", template=template,
              to=ctx.recipients("acknowledgement", sender=email.from_address),
              values={"filename": filename, "problem": problem} if values is None else values, source=source,
              in_reply_to=email.message_id, references=email.references)


def answer_and_tell(ctx, email, *, problem: str | None, title: str, details: str, source: str | None = None,
                    filename: str = WHOLE_EMAIL, template: str = "form-problem") -> None:
    """Answer the sender (unless ``problem`` is None: no answer) and tell the coordinator, once."""
    source = source or email.key
    if problem is not None or template != "form-problem":
        reply_problem(ctx, email, filename=filename, problem=problem or "", source=source, template=template,
                      values=None if template == "form-problem" else {})
    ctx.tell_coordinator(title=title, details=details, source=source)


def refuse(ctx, email, *, kind: str, reason: str, problem: str | None, title: str, details: str,
           filename: str = WHOLE_EMAIL, template: str = "form-problem") -> Outcome:
    """Reply to the sender, tell the coordinator, quarantine: the one way a handler refuses an email."""
    answer_and_tell(ctx, email, problem=problem, title=title, details=details, filename=filename,
                    template=template)
    return Outcome(kind=kind, outcome=Disposition.QUARANTINED, reason=reason)


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
    return MailbotError(
        f"{what} for {case_codes} can only come from its lead agency ({lead_agency}) or the coordinator. "
        f"Nothing was sent or changed. If the lead agency has changed, ask the coordinator.",
        reason="not-lead-agency")


def configured_coordinator(ctx, address: str) -> str | None:
    """The coordinator address as configured that this address is; None when it is none of them."""
    a = (address or "").strip().lower()
    for c in ctx.cfg.coordinators:
        if c.strip().lower() == a:
            return c
    return None


def find_member(ctx, to: str) -> tuple[str, str] | None:
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
