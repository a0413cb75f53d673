"""The store: mailbot's memory, one SQLite file.

What it remembers: every inbound message handled (so nothing is done twice),
the case counter (numbers are never reused), the cases (names only as
AES-GCM ciphertext, found again through a keyed blind index), the outbox
(every outgoing email, sent exactly once where the SMTP server allows it),
an audit trail of who was sent what and why, the IMAP position and a little
key/value state.

Durability: WAL journal, ``synchronous=FULL``; every change is inside a
``BEGIN IMMEDIATE`` transaction. Thread-safety: one connection per thread
(the IMAP watcher thread and the asyncio outbox each get their own), and
SQLite's busy timeout serialises writers.

The database file alone reveals no young person's name: names live only in
``cases.person_enc`` (encrypted with the vault key) and the blind index is a
keyed HMAC. Callers must keep names out of ``reason``/``detail`` texts.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mailbot.store.cases import CasesMixin
from mailbot.store.consent import ConsentMixin
from mailbot.store.facts import FactsMixin
from mailbot.store.messages import MessagesMixin
from mailbot.store.outbox_queue import OutboxQueueMixin
from mailbot.store.overview import OverviewMixin
from mailbot.store.records import StoreError
from mailbot.store.reviews import ReviewsMixin
from mailbot.store.schema import MIGRATIONS
from mailbot.store.vault import Vault

log = logging.getLogger("mailbot.store")

BUSY_TIMEOUT_MS = 15000


class _UidState:
    """The inbox watcher's UidState protocol, backed by the store."""

    def __init__(self, store: "Store"):
        self._store = store

    def get(self, uidvalidity: int) -> int:
        return self._store.get(uidvalidity)

    def set(self, uidvalidity: int, uid: int) -> None:
        self._store.set(uidvalidity, uid)


class Store(MessagesMixin, CasesMixin, FactsMixin, OutboxQueueMixin, ReviewsMixin, ConsentMixin, OverviewMixin):
    def __init__(self, path: Path, vault: Vault, *, first_case_number: int = 1):
        self.path = Path(path)
        self.vault = vault
        self._people_cache: dict[str, list[dict]] = {}
        self._person_plain: dict[str, tuple[bytes, object]] = {}  # code -> (sealed record, its ProtectedPerson)
        self.first_case_number = int(first_case_number)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._uid_state = _UidState(self)

    # -- opening -----------------------------------------------------------

    @classmethod
    def open(cls, path: Path, vault: Vault, *, first_case_number: int = 1) -> "Store":
        path = Path(path)
        if not path.parent.is_dir():
            raise StoreError(f"The folder for the mailbot database ({path.parent}) does not exist.")
        if not path.exists():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
            except OSError as exc:
                raise StoreError(f"The mailbot database at {path} cannot be created ({exc.strerror}).") from None
        store = cls(path, vault, first_case_number=first_case_number)
        try:
            store._check_and_migrate()
        except BaseException:
            store.close()
            raise
        return store

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"The mailbot database at {self.path} cannot be opened ({exc}).") from None
        with self._lock:
            self._all.append(conn)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return conn

    def _damaged(self, detail: str) -> StoreError:
        detail = " ".join(detail.split())  # SQLite's report can run over several lines: one line
        return StoreError(
            f"The mailbot database at {self.path} is damaged ({detail}). "
            "Stop and restore it from backup; nothing was changed.")

    def _check_and_migrate(self) -> None:
        conn = self._connect()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            check = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise StoreError(f"The mailbot database at {self.path} is in use by another program "
                                 "(is mailbot already running?).") from None
            if "unable to open" in text or "readonly" in text or "disk I/O" in text:
                raise StoreError(f"The mailbot database at {self.path} cannot be opened ({text}).") from None
            raise self._damaged(text) from None
        except sqlite3.DatabaseError as exc:
            raise self._damaged(str(exc)) from None
        if check != ["ok"]:
            raise self._damaged(f"integrity check: {check[0]}"[:200])
        if version > len(MIGRATIONS):
            raise StoreError(
                f"The mailbot database at {self.path} was written by a newer mailbot "
                f"(schema {version}, this one knows {len(MIGRATIONS)}); upgrade mailbot.")
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"The mailbot database at {self.path} cannot be written ({exc}).") from None
        if str(mode).lower() != "wal":
            raise StoreError(f"The mailbot database at {self.path} cannot use WAL journaling (got {mode}).")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed: a sealed row leaves no clear copy
        self._local.conn = conn
        self._local.depth = 0
        try:
            self.migrate()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"The mailbot database at {self.path} cannot be updated ({exc}); "
                             "is mailbot already running?") from None

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version. Idempotent."""
        conn = self._conn()
        while True:
            with self.transaction():
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version >= len(MIGRATIONS):
                    return version
                for step in MIGRATIONS[version]:
                    step(conn) if callable(step) else conn.execute(step)
                conn.execute(f"PRAGMA user_version={version + 1}")
                log.info("database schema migrated to version %d", version + 1)

    def schema_version(self) -> int:
        return self._conn().execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
            self._closed = True
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover
                pass
        self._local = threading.local()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError("The mailbot database is closed.")
            conn = self._connect()
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=ON")
            self._local.conn = conn
            self._local.depth = 0
        return conn

    def relax_durability_for_this_thread(self) -> None:
        """synchronous=NORMAL on this thread's connection (the outbox's delivery marks only).

        In WAL mode NORMAL survives a crash of mailbot (kill -9) and loses at most the last commits
        on a power failure. For delivery marks that costs at worst one re-send under the same
        Message-ID, and it halves the fsyncs per sent message. Intake stays FULL.
        """
        self._conn().execute("PRAGMA synchronous=NORMAL")

    # -- transactions ------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE .. COMMIT (ROLLBACK on error). Nested use joins the
        outer transaction (through a savepoint, so an inner failure that the
        caller catches undoes only the inner part)."""
        conn = self._conn()
        depth = self._local.depth
        if depth:
            if not conn.in_transaction:  # SQLite already rolled the outer transaction back (see below)
                raise StoreError("A change to the mailbot database was undone by the database itself "
                                 "(disk full or I/O error); nothing of it was kept.")
            name = f"sp{depth}"
            conn.execute(f"SAVEPOINT {name}")
            self._local.depth = depth + 1
            try:
                yield conn
            except BaseException:
                if not conn.in_transaction:
                    # SQLITE_FULL / IOERR roll the WHOLE transaction back: there is no savepoint left,
                    # and the caller must see the real error (not "no such savepoint").
                    raise
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            finally:
                self._local.depth = depth
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            self._local.depth = 0
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if not conn.in_transaction:  # an inner failure made SQLite roll everything back, and it was caught
            self._local.depth = 0
            raise StoreError("A change to the mailbot database was undone by the database itself "
                             "(disk full or I/O error); nothing of it was kept.")
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._local.depth = 0

    def in_transaction(self) -> bool:
        return bool(getattr(self._local, "depth", 0))

    # -- messages ----------------------------------------------------------

    # -- attempts (poison messages) -----------------------------------------

    # -- counters ----------------------------------------------------------

    # -- cases -------------------------------------------------------------

    # -- master list state -------------------------------------------------

    # -- outbox ------------------------------------------------------------


    _OUTBOX_COLUMNS = ("id", "message_id", "kind", "case_code", "sender", "recipients", "raw", "status",
                       "attempts", "next_try", "last_error", "created_at", "sent_at", "rule", "reason",
                       "delivered")

    # -- audit -------------------------------------------------------------

    # -- imap state (UidState protocol) --------------------------------------

    def uid_state(self) -> _UidState:
        """The inbox watcher's UidState (get/set), backed by this store."""
        return self._uid_state

    def get(self, uidvalidity: int) -> int:
        row = self._conn().execute("SELECT last_uid FROM imap_state WHERE uidvalidity = ?",
                                   (int(uidvalidity),)).fetchone()
        return int(row[0]) if row else 0

    def set(self, uidvalidity: int, uid: int) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO imap_state (uidvalidity, last_uid) VALUES (?, ?) "
                         "ON CONFLICT(uidvalidity) DO UPDATE SET last_uid = MAX(last_uid, excluded.last_uid)",
                         (int(uidvalidity), int(uid)))

    # -- kv ----------------------------------------------------------------

    def get_value(self, name: str, default: str | None = None) -> str | None:
        row = self._conn().execute("SELECT value FROM kv WHERE name = ?", (name,)).fetchone()
        return default if row is None or row[0] is None else row[0]

    def set_value(self, name: str, value) -> None:
        with self.transaction() as conn:
            if value is None:
                conn.execute("DELETE FROM kv WHERE name = ?", (name,))
            else:
                conn.execute("INSERT INTO kv (name, value) VALUES (?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (name, str(value)))

    # -- referral forms held for review ---------------------------------------

    _HELD_FORM_CONTEXT = b"held-form"

    # -- commands waiting for the coordinator's confirmation (mailbot.casework.confirm) ---------------------

    _PENDING_CTX = b"pending-command"
    _PENDING_COLUMNS = ("id", "token_hash", "coordinator", "created_at", "expires_at", "commands_enc",
                        "summary", "source", "status", "finished_at", "finish_reason")

    # -- exits -------------------------------------------------------------



