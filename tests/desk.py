"""A network on paper: the pipeline and its handlers against a temporary store, without a mail server.

For the middle-layer tests (tests/test_handler_*.py, one file per handler, in Mailman's style): an email
goes through ``process_message`` exactly as the inbox watcher hands it over, and the test reads what the
handler recorded and what it put in the outbox (to whom, of which kind, with what text), which is what
the outbox would deliver. The end-to-end tests on Dovecot stay; these run in milliseconds. Fictional
people only.
"""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone
from pathlib import Path

from mailbot.context import Context
from mailbot.pipeline import after_batch, process_message
from mailbot.sandbox.network import TestNetwork
from mailbot.store import Store
from mailbot.store.vault import Vault

SAMPLES = Path(__file__).parent / "fixtures" / "samples"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


class NoServer:
    """Stands where the mail server would: addresses are accepted, nothing is ever contacted."""

    host, imap_port, smtp_port, authserv_id = "127.0.0.1", 9, 9, "mx.desk.test"

    def add_user(self, address: str) -> str:
        return address

    def password(self, address: str) -> str:
        return "not-used"


class Desk:
    def __init__(self, work_dir: Path, *, now: datetime = NOW, extra: dict | None = None):
        self.net = TestNetwork(NoServer(), work_dir, extra=extra)
        cfg = self.net.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store.open(cfg.store_path, Vault.load_or_create(cfg.key_file),
                                first_case_number=cfg.first_case_number)
        self.now = now
        self.ctx = Context.build(cfg, self.store, clock=lambda: self.now)
        self.ctx.refresh_members()

    def close(self) -> None:
        self.store.close()

    # -- in ----------------------------------------------------------------------------------------------
    def handle(self, raw: bytes, *, mail_from: str | None = None, uid: int = 1, **mx) -> str:
        """One email through the pipeline, as the MX and the watcher would pass it; the folder it goes to.
        ``mx``: what the MX writes (``results=``, ``sending_domain=``...: see sandbox.mx)."""
        folder = process_message(self.ctx, self.net.received(raw, mail_from=mail_from, **mx), uid=uid, uidvalidity=1)
        after_batch(self.ctx)
        return folder

    def email(self, sender: str, subject: str, *, body: str = "Please find attached.",
              attachments: list[tuple[str, bytes]] = ()) -> bytes:
        return self.net.email_with(sender, subject, body=body, attachments=list(attachments))

    def referral(self, sender: str, form: str | bytes = "S01-table.docx") -> str:
        data = form if isinstance(form, bytes) else (SAMPLES / form).read_bytes()
        return self.handle(self.email(sender, "Referral", attachments=[("referral.docx", data)]))

    # -- out ---------------------------------------------------------------------------------------------
    def outgoing(self, kind: str | None = None, to: str | None = None) -> list[email.message.EmailMessage]:
        """What the outbox holds (each copy is one recipient's), oldest first."""
        out = []
        for item in self.store.outbox_items():
            if (kind is None or item.kind == kind) and (to is None or to in item.recipients):
                out.append(email.message_from_bytes(item.raw, policy=email.policy.default))
        return out

    def kinds_to(self, address: str) -> list[str]:
        return [item.kind for item in self.store.outbox_items() if address in item.recipients]

    def last_message(self) -> dict:
        return self.store.messages_after(0)[-1]

    @property
    def coordinator(self) -> str:
        return self.net.coordinator

    @property
    def lead(self) -> str:
        return self.net.members[0][1]


def text_of(msg) -> str:
    part = msg.get_body(("plain",))
    return part.get_content() if part is not None else ""
