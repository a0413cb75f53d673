"""Quarantined emails the coordinator asked to have handled again (REPROCESS Q5): which they are, and how
the inbox watcher recognises them in the Quarantine folder (the watcher's ``restores``).

The request is recorded by the confirmed command (mailbot.handlers.control) in one transaction: the
email's record in ``messages`` gets the outcome 'reprocess' (so the pipeline handles it afresh, not as
a duplicate) and ``kv["reprocess_requests"]`` names it. The watcher (mailbot.mail.inbox) then finds the
raw email in the Quarantine folder by the same key the pipeline gave it (Message-ID, sender and date;
the whole message for one without a Message-ID or a same-Message-ID variant), marks the request
'moving', MOVEs it to the inbox, marks it 'moved'. A crash at any point is harmless:

- before the MOVE: still 'pending' (or 'moving' and still in Quarantine): found and moved next time;
- after the MOVE, before 'moved': 'moving' and no longer in Quarantine: taken as moved;
- once handled, the email's outcome is no longer 'reprocess' and the request is forgotten.

An email that is in neither place (deleted by hand) is listed again as it was, and the coordinator is
told. Nothing here reads or logs an email's content beyond its key.
"""

from __future__ import annotations

import logging

from mailbot.store.overview import REPROCESS_OUTCOME

log = logging.getLogger("mailbot.inbox")


class QuarantineRestores:
    """The store's REPROCESS requests, as the inbox watcher's ``restores``."""

    def __init__(self, ctx, keys_of):
        self.ctx = ctx
        #: ``keys_of(raw, whole) -> set[str]``: the keys the pipeline gives this email (mailbot.pipeline)
        self.keys_of = keys_of

    def wanted(self) -> list[str]:
        store = self.ctx.store
        requests = store.reprocess_requests()
        if not requests:
            return []
        out = []
        for key, request in requests.items():
            row = store.get_message(key)
            if row is None or row["outcome"] != REPROCESS_OUTCOME:
                store.finish_reprocess(key)  # handled again (or the record is gone): done
                continue
            if request.get("state") in ("pending", "moving"):
                out.append(key)
        return out

    def match(self, raw: bytes, whole: bool) -> set[str]:
        return set(self.keys_of(raw, whole))

    def moving(self, key: str) -> None:
        self.ctx.store.set_reprocess_state(key, "moving")

    def moved(self, key: str) -> None:
        self.ctx.store.set_reprocess_state(key, "moved")

    def not_found(self, key: str) -> None:
        store = self.ctx.store
        request = store.reprocess_requests().get(key)
        if request is None:
            return
        if request.get("state") == "moving":  # moved just before a crash: it is in the inbox
            self.moved(key)
            return
        n = request.get("q")
        with store.transaction():
            store.finish_reprocess(key, restore=True)
            self.ctx.tell_coordinator(
                title=f"Q{n} could not be handled again",
                details=(f"The quarantined email Q{n} was not found in the folder \"{self.ctx.cfg.quarantine_folder}\" "
                         "(it may have been moved or deleted by hand), so it was not handled again. Nothing "
                         "changed; if you still have it, ask its sender to send it again."),
                source=f"reprocess:{key}:{request.get('at')}")
        self.ctx.notify_outbox()
        log.warning("quarantined message Q%s asked to be handled again was not found in quarantine", n)
