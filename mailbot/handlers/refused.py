"""A stranger, or failed sender authentication: quarantined, no reply (a reply would confirm the address)."""

from __future__ import annotations

import logging

from mailbot.context import Disposition, Kind, Outcome
from mailbot.mail.senders import refusal_note

log = logging.getLogger("mailbot.handlers")


def handle_refused(ctx, email, verdict) -> Outcome:
    """Quarantined and counted in the digest; a From line that hides who sent it is also told at once."""
    log.warning("refused mail from a sender outside the directory or failing authentication: %s", verdict.reason)
    if getattr(verdict, "tell_coordinator", False):  # a From line that hides who sent it (senders.authorise)
        ctx.tell_coordinator(title="an email with a misleading From line was refused",
                             details=refusal_note(email, verdict, ctx.cfg.quarantine_folder,
                                                  shown_sender=ctx.recorded_sender(email.from_address)),
                             source=email.key)
    return Outcome(kind=Kind.REFUSED, outcome=Disposition.QUARANTINED, reason=verdict.reason or "refused")
