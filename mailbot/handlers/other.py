"""An email with nothing to handle, a confirmation code from a member, or one that could not be read."""

from __future__ import annotations

from mailbot.casework.confirm import find_confirmation, token_hash
from mailbot.context import Kind, Outcome
from mailbot.handlers.common import refuse


def handle_other(ctx, email, verdict) -> Outcome:
    is_confirmation, token = find_confirmation(email.subject or "", email.text_body or "")
    if is_confirmation:
        return _confirmation_from_member(ctx, email, token)
    problems = list(getattr(email, "problems", None) or [])
    if problems:  # e.g. an unreadable winmail.dat: say what went wrong, not "no form found"
        return refuse(ctx, email, kind=Kind.OTHER, reason="unreadable", problem=" ".join(problems),
                      title="an email that could not be read was quarantined",
                      details=f"From {email.from_address}: {' '.join(problems)} The sender has been told.")
    return refuse(ctx, email, kind=Kind.OTHER, reason="nothing-to-process", problem=None, template="no-form",
                  title="an email with nothing to process was quarantined",
                  details=f"From {email.from_address}: no form, minutes or meeting notice found. "
                          f"The sender has been told.")


def _confirmation_from_member(ctx, email, token: str | None) -> Outcome:
    """Only a coordinator confirms commands (handlers.commands). A token that reached someone else has
    leaked: it is cancelled, and nothing changes."""
    request = ctx.store.pending_commands(token_hash(token)) if token else None
    if request is not None and request["status"] == "pending":
        ctx.store.finish_pending_commands(request["id"], "cancelled", "came back from a member address",
                                          now=ctx.now().timestamp())
    return refuse(ctx, email, kind="confirmation", reason="confirmation-not-from-coordinator",
                  problem="Only the network coordinator can confirm commands. Nothing was changed.",
                  title="a confirmation code came from a member address",
                  details=f"From {email.from_address}: an email carrying a command confirmation was refused; "
                          f"nothing was changed" + ("; the code it carried was cancelled." if request else "."))
