"""Handlers: one per kind of incoming message, one contract.

Every handler is ``handler(ctx, email, verdict) -> Outcome`` (mailbot.context): it writes its effects
through ``ctx`` (store, outbox) inside the pipeline's transaction and returns one Outcome. Which
handler runs is decided by mailbot.classify's chain; the order of the steps is in mailbot.pipeline.
Shared pieces (replying, telling the coordinator, refusing) are in handlers.common.
"""

from __future__ import annotations

from mailbot.context import Kind
from mailbot.handlers.auto import handle_auto
from mailbot.handlers.commands import handle_commands
from mailbot.handlers import consent as _consent  # noqa: F401  (registers the CONSENT commands)
from mailbot.handlers import control as _control  # noqa: F401  (registers STATUS, CASE, HELD, REPROCESS...)
from mailbot.handlers.documents import handle_documents
from mailbot.handlers.notices import handle_notice
from mailbot.handlers.other import handle_other
from mailbot.handlers.refused import handle_refused
from mailbot.handlers.too_large import handle_too_large

#: Kind -> handler (mail.ratelimit's handle_flood is chosen by the pipeline itself)
HANDLERS = {
    Kind.DOCUMENT: handle_documents,
    Kind.AUTO: handle_auto,
    Kind.REFUSED: handle_refused,
    Kind.TOO_LARGE: handle_too_large,
    Kind.OTHER: handle_other,
    Kind.COMMAND: handle_commands,
    Kind.NOTICE: handle_notice,
}
