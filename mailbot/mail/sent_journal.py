"""The outbox's send journal: the SMTP server's 250s, written the moment they arrive, before the database.

See :class:`SentJournal`; :class:`mailbot.mail.outbox.OutboxSender` applies it at start.
"""

from __future__ import annotations

import os
from pathlib import Path


class SentJournal:
    """Messages the SMTP server has accepted (250) and the database may not have recorded yet.

    One line per message, ``<outbox id> <Message-ID>``, appended with a single write(2) as soon as
    the 250 arrives: the file is the outbox thread's own, so nothing waits for a lock (the database
    may be held by intake for the length of a referral). A kill leaves the line in the page cache,
    so it survives mailbot's death (as the database's synchronous=NORMAL commits do). Applied to the
    database at the next start, and emptied whenever every line in it is recorded there. It holds
    ids only, never a name."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def record(self, item_id: int, message_id: str) -> None:
        os.write(self._open(), f"{int(item_id)} {''.join(str(message_id).split())}\n".encode("ascii", "replace"))

    def entries(self) -> list[tuple[int, str]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in data.decode("ascii", "replace").split("\n")[:-1]:  # (a last line cut short: not sent)
            parts = line.split(" ")
            if len(parts) == 2 and parts[0].isdigit() and parts[1]:
                out.append((int(parts[0]), parts[1]))
        return out

    def clear(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
        elif self.path.exists():
            os.truncate(self.path, 0)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

