"""An email over the size limit: not opened; the sender is told, the coordinator too."""

from __future__ import annotations

from mailbot.context import Kind, Outcome
from mailbot.handlers.common import refuse


def handle_too_large(ctx, email, verdict) -> Outcome:
    mb = ctx.cfg.max_email_bytes // (1024 * 1024)
    return refuse(ctx, email, kind=Kind.TOO_LARGE, reason="too-large",
                  problem=f"The email is larger than {mb} MB, so it was not opened. Please send the form on its "
                          f"own, without other attachments or pictures.",
                  title="an oversized email was quarantined",
                  details=f"From {email.from_address}: larger than {mb} MB; the sender has been told.")
