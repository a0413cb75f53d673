"""Reading the sandbox's mailboxes back over IMAP, for tests: every message of a folder, a count, a wait.

:class:`MailboxReader` is mixed into :class:`mailbot.sandbox.mailserver.MailServer`; it needs the
server's ``host``, ``imap_port`` and ``password(address)``. Nothing here changes a flag.
"""

from __future__ import annotations

import email
import email.policy
import time
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Iterator


class MailboxReader:
    """What a test reads of a mailbox: :meth:`fetch_all`, :meth:`count`, :meth:`wait_for`."""

    host: str
    imap_port: int

    def imap(self, address: str):
        """A logged-in IMAPClient for ``address`` (caller logs out)."""
        from imapclient import IMAPClient

        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=10)
        client.login(address, self.password(address))
        return client

    @contextmanager
    def _logged_in(self, address: str) -> Iterator:
        client = self.imap(address)
        try:
            yield client
        finally:
            try:
                client.logout()
            except Exception:
                pass

    def fetch_all(self, address: str, folder: str = "INBOX") -> list[EmailMessage]:
        """Every message in ``folder`` (in UID order), read without changing flags."""
        with self._logged_in(address) as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            if not uids:
                return []
            data = client.fetch(uids, [b"BODY.PEEK[]"])
            return [email.message_from_bytes(data[u][b"BODY[]"], policy=email.policy.default) for u in uids]

    def count(self, address: str, folder: str = "INBOX") -> int:
        with self._logged_in(address) as client:
            if not client.folder_exists(folder):
                return 0
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def wait_for(self, address: str, count: int, timeout: float = 10.0,
                 folder: str = "INBOX") -> list[EmailMessage]:
        """Poll until ``folder`` holds at least ``count`` messages; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.count(address, folder)
            if n >= count:
                return self.fetch_all(address, folder)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address}/{folder}: {n} message(s) after {timeout:.1f}s, wanted {count}")
            time.sleep(0.05)
