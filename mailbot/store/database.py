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

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from mailbot.errors import MailbotError
from mailbot.store.vault import Vault

log = logging.getLogger("mailbot.store")

BUSY_TIMEOUT_MS = 15000


_HELD_PREFIX = b"MAILBOT-HELD-V1\n"   # an outbox item sealed by mark_held
_HELD_CONTEXT = b"outbox-held"


class StoreError(MailbotError):
    """The database cannot be used (damaged, unreadable, newer version)."""

    reason = "store"


def storage_failure(exc: BaseException) -> str | None:
    """A plain reason when ``exc`` means the database cannot be written at all (disk full, I/O
    error, read-only), else None. Retrying does not help: the daemon stops (see daemon.Bot)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    text = str(exc).lower()
    if "full" in text:
        return "the disk is full"
    if "disk i/o" in text:
        return "the disk reported an I/O error"
    if "readonly" in text or "read-only" in text:
        return "the database became read-only"
    return None


# Each migration is a list of statements, applied in one transaction, after
# which PRAGMA user_version is the migration's 1-based index. Never edit a
# released migration: append a new one.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE messages (
            key TEXT PRIMARY KEY,
            uidvalidity INTEGER,
            uid INTEGER,
            received_at TEXT,
            sender TEXT,
            kind TEXT,
            outcome TEXT,
            reason TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '',
            case_codes TEXT NOT NULL DEFAULT '[]',
            processed_at TEXT
        )""",
        """CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        )""",
        """CREATE TABLE cases (
            code TEXT PRIMARY KEY,
            number INTEGER NOT NULL,
            letter TEXT NOT NULL DEFAULT '',
            lead_agency TEXT NOT NULL DEFAULT '',
            lead_contact TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            referred_on TEXT,
            closed_on TEXT,
            sw_known INTEGER,
            sw_open INTEGER,
            sw_worker_enc BLOB,
            next_meeting TEXT,
            identity TEXT NOT NULL DEFAULT '',
            person_enc BLOB,
            source_message_key TEXT,
            detained INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX cases_identity ON cases(identity)",
        "CREATE INDEX cases_source ON cases(source_message_key)",
        "CREATE INDEX cases_number ON cases(number, letter)",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL DEFAULT '',
            case_code TEXT,
            sender TEXT NOT NULL,
            recipients TEXT NOT NULL,
            raw BLOB NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'held')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try REAL NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            sent_at REAL,
            rule TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            delivered TEXT NOT NULL DEFAULT '[]'
        )""",
        "CREATE INDEX outbox_due ON outbox(status, next_try, id)",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            event TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT '',
            message_id TEXT,
            case_code TEXT,
            recipients TEXT NOT NULL DEFAULT '[]',
            rule TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE imap_state (
            uidvalidity INTEGER PRIMARY KEY,
            last_uid INTEGER NOT NULL
        )""",
        """CREATE TABLE kv (
            name TEXT PRIMARY KEY,
            value TEXT
        )""",
    ],
    # Coordinator commands waiting for the coordinator's confirmation (mailbot.casework.confirm), and the
    # recorded reasons of exits. IF NOT EXISTS: safe whatever order migrations of parallel work take.
    [
        """CREATE TABLE IF NOT EXISTS pending_commands (
            id INTEGER PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            coordinator TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            commands_enc BLOB NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'done', 'cancelled')),
            finished_at REAL,
            finish_reason TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE IF NOT EXISTS case_exits (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL,
            closed_on TEXT,
            reason TEXT NOT NULL DEFAULT '',
            actor TEXT NOT NULL DEFAULT '',
            at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS case_exits_code ON case_exits(code, id)",
    ],
    [
        # referral forms held for the coordinator's review (the recall check saw a word that looks
        # like a name): everything needed to finish them, sealed with the vault key
        """CREATE TABLE IF NOT EXISTS held_forms (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created REAL NOT NULL,
            codes TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'held'
                CHECK (status IN ('held', 'stripped', 'released', 'discarded')),
            reason TEXT NOT NULL DEFAULT '',
            location TEXT NOT NULL DEFAULT '',
            sealed BLOB NOT NULL,
            decided REAL,
            decision TEXT NOT NULL DEFAULT ''
        )""",
    ],
    [
        # issue 11 item 10: what an email said, so that a second email under the same Message-ID
        # with other content is not taken for the first (NULL: recorded before this column)
        "ALTER TABLE messages ADD COLUMN content_hash TEXT",
        # issue 11 item 11: attempts at handling a message, counted (and committed) before each
        # attempt starts, so that one that kills mailbot every time is quarantined after a few
        """CREATE TABLE IF NOT EXISTS attempts (
            fingerprint TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL
        )""",
    ],
]


def _iso(value) -> str | None:
    if value is None or value == "":
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _bool_or_none(value) -> int | None:
    return None if value is None else (1 if value else 0)


@dataclass
class Case:
    code: str
    number: int
    letter: str = ""
    lead_agency: str = ""
    lead_contact: str = ""
    status: str = "open"
    referred_on: str | None = None      # ISO date
    closed_on: str | None = None        # ISO date
    sw_known: bool | None = None
    sw_open: bool | None = None
    sw_worker: Any = None               # decrypted JSON (social worker's name/contact)
    next_meeting: str | None = None     # ISO datetime
    identity: str = ""                  # blind index (Vault.identity)
    person: dict = field(default_factory=dict)  # decrypted: name, first_name, surname, ...
    source_message_key: str | None = None
    detained: bool = False


@dataclass
class OutgoingMail:
    message_id: str
    kind: str
    case_code: str | None
    sender: str
    recipients: list[str]
    raw: bytes
    rule: str = ""
    reason: str = ""


@dataclass
class OutboxItem:
    id: int
    message_id: str
    kind: str
    case_code: str | None
    sender: str
    recipients: list[str]
    raw: bytes
    status: str
    attempts: int
    next_try: float
    last_error: str
    created_at: float
    sent_at: float | None
    rule: str
    reason: str
    delivered: list[str] = field(default_factory=list)


_CASE_COLUMNS = ("code", "number", "letter", "lead_agency", "lead_contact", "status", "referred_on",
                 "closed_on", "sw_known", "sw_open", "sw_worker_enc", "next_meeting", "identity",
                 "person_enc", "source_message_key", "detained")
_UPDATABLE = {"number", "letter", "lead_agency", "lead_contact", "status", "referred_on", "closed_on",
              "sw_known", "sw_open", "sw_worker", "next_meeting", "identity", "person",
              "source_message_key", "detained"}


class _UidState:
    """The inbox watcher's UidState protocol, backed by the store."""

    def __init__(self, store: "Store"):
        self._store = store

    def get(self, uidvalidity: int) -> int:
        return self._store.get(uidvalidity)

    def set(self, uidvalidity: int, uid: int) -> None:
        self._store.set(uidvalidity, uid)


class Store:
    def __init__(self, path: Path, vault: Vault, *, first_case_number: int = 1):
        self.path = Path(path)
        self.vault = vault
        self._people_cache: dict[str, list[dict]] = {}
        self._person_plain: dict[str, tuple[bytes, dict]] = {}  # code -> (sealed record, its contents)
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
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
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

    def get_message(self, key: str) -> dict | None:
        row = self._conn().execute(
            "SELECT key, uidvalidity, uid, received_at, sender, kind, outcome, reason, detail, "
            "case_codes, processed_at, content_hash FROM messages WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        names = ("key", "uidvalidity", "uid", "received_at", "sender", "kind", "outcome", "reason",
                 "detail", "case_codes", "processed_at", "content_hash")
        out = dict(zip(names, row))
        out["case_codes"] = json.loads(out["case_codes"] or "[]")
        return out

    def messages_after(self, rowid: int = 0, outcomes=None) -> list[dict]:
        """Recorded messages with a row number above ``rowid`` (optionally only these outcomes), oldest first.

        Read-only; used by the digest ("quarantined since the last digest"). Each dict has a ``rowid``."""
        names = ("rowid", "key", "received_at", "sender", "kind", "outcome", "reason", "processed_at")
        sql = f"SELECT {', '.join(names)} FROM messages WHERE rowid > ?"
        params: list = [int(rowid)]
        if outcomes is not None:
            outcomes = list(outcomes)
            sql += f" AND outcome IN ({', '.join('?' * len(outcomes))})"
            params += outcomes
        return [dict(zip(names, row)) for row in self._conn().execute(sql + " ORDER BY rowid", params)]

    def last_message_rowid(self) -> int:
        row = self._conn().execute("SELECT MAX(rowid) FROM messages").fetchone()
        return int(row[0] or 0)

    def record_message(self, key: str, *, uidvalidity, uid, sender, kind, outcome, reason: str = "",
                       detail: str = "", case_codes=(), received_at=None, content_hash: str | None = None) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO messages (key, uidvalidity, uid, received_at, sender, kind, outcome, reason, "
                "detail, case_codes, processed_at, content_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET uidvalidity=excluded.uidvalidity, uid=excluded.uid, "
                "received_at=COALESCE(excluded.received_at, messages.received_at), sender=excluded.sender, "
                "kind=excluded.kind, outcome=excluded.outcome, reason=excluded.reason, "
                "detail=excluded.detail, case_codes=excluded.case_codes, processed_at=excluded.processed_at, "
                "content_hash=COALESCE(excluded.content_hash, messages.content_hash)",
                (key, uidvalidity, uid, _iso(received_at), sender, kind, outcome, reason or "", detail or "",
                 json.dumps(list(case_codes)), now, content_hash))

    # -- attempts (poison messages) -----------------------------------------

    def begin_attempt(self, fingerprint: str) -> int:
        """Count one more attempt at handling this message, committed BEFORE the work starts.

        Returns the attempt's number (1 for the first). A message whose handling kills mailbot is
        counted each time, although nothing else of that attempt is kept (Mailman's switchboard)."""
        if self.in_transaction():
            raise RuntimeError("begin_attempt() must be committed on its own, outside a transaction")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO attempts (fingerprint, count, first_at, last_at) VALUES (?, 1, ?, ?) "
                "ON CONFLICT(fingerprint) DO UPDATE SET count = attempts.count + 1, last_at = excluded.last_at",
                (fingerprint, now, now))
            return int(conn.execute("SELECT count FROM attempts WHERE fingerprint = ?",
                                    (fingerprint,)).fetchone()[0])

    def clear_attempts(self, fingerprint: str) -> None:
        """The message was handled (or found handled): forget its attempts (inside the caller's transaction)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM attempts WHERE fingerprint = ?", (fingerprint,))

    def attempts(self, fingerprint: str) -> int:
        row = self._conn().execute("SELECT count FROM attempts WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return int(row[0]) if row else 0

    # -- counters ----------------------------------------------------------

    def allocate_case_number(self) -> int:
        """Next case number: monotonic, never reused. Call inside transaction()."""
        if not self.in_transaction():
            raise RuntimeError("allocate_case_number() must be called inside store.transaction()")
        number = self.next_case_number()
        self._conn().execute("INSERT INTO counters (name, value) VALUES ('case_number', ?) "
                             "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (number,))
        return number

    def next_case_number(self) -> int:
        """The number allocate_case_number() would give next (a forecast: nothing is reserved)."""
        row = self._conn().execute("SELECT value FROM counters WHERE name = 'case_number'").fetchone()
        last = row[0] if row else self.first_case_number - 1
        return max(last + 1, self.first_case_number)

    # -- cases -------------------------------------------------------------

    def _person_ctx(self, code: str) -> bytes:
        return b"person:" + code.encode("utf-8")

    def _sw_ctx(self, code: str) -> bytes:
        return b"sw_worker:" + code.encode("utf-8")

    def add_case(self, case: Case) -> None:
        if case.status not in ("open", "closed"):
            raise ValueError(f"bad case status {case.status!r}")
        values = (
            case.code, int(case.number), case.letter or "", case.lead_agency or "", case.lead_contact or "",
            case.status, _iso(case.referred_on), _iso(case.closed_on), _bool_or_none(case.sw_known),
            _bool_or_none(case.sw_open),
            None if case.sw_worker is None else self.vault.encrypt_json(case.sw_worker, self._sw_ctx(case.code)),
            _iso(case.next_meeting), case.identity or "",
            self.vault.encrypt_json(case.person or {}, self._person_ctx(case.code)),
            case.source_message_key, 1 if case.detained else 0,
        )
        with self.transaction() as conn:
            try:
                conn.execute(f"INSERT INTO cases ({', '.join(_CASE_COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(_CASE_COLUMNS))})", values)
            except sqlite3.IntegrityError:
                raise StoreError(f"Case {case.code} already exists.") from None
            self._people_changed()

    def _case_from_row(self, row) -> Case:
        d = dict(zip(_CASE_COLUMNS, row))
        code = d["code"]
        return Case(
            code=code, number=d["number"], letter=d["letter"], lead_agency=d["lead_agency"],
            lead_contact=d["lead_contact"], status=d["status"], referred_on=d["referred_on"],
            closed_on=d["closed_on"],
            sw_known=None if d["sw_known"] is None else bool(d["sw_known"]),
            sw_open=None if d["sw_open"] is None else bool(d["sw_open"]),
            sw_worker=None if d["sw_worker_enc"] is None else self.vault.decrypt_json(d["sw_worker_enc"], self._sw_ctx(code)),
            next_meeting=d["next_meeting"], identity=d["identity"],
            person=self.vault.decrypt_json(d["person_enc"], self._person_ctx(code)) if d["person_enc"] is not None else {},
            source_message_key=d["source_message_key"], detained=bool(d["detained"]),
        )

    def _cases(self, where: str = "", params=()) -> list[Case]:
        rows = self._conn().execute(
            f"SELECT {', '.join(_CASE_COLUMNS)} FROM cases {where} ORDER BY number, letter", params).fetchall()
        return [self._case_from_row(r) for r in rows]

    def get_case(self, code: str) -> Case | None:
        found = self._cases("WHERE code = ?", (code,))
        return found[0] if found else None

    def find_case_by_identity(self, identity: str) -> Case | None:
        """The case (open or closed) with this blind index; open ones first, then the newest."""
        if not identity:
            return None
        rows = self._conn().execute(
            f"SELECT {', '.join(_CASE_COLUMNS)} FROM cases WHERE identity = ? "
            "ORDER BY status = 'open' DESC, number DESC, letter LIMIT 1", (identity,)).fetchall()
        return self._case_from_row(rows[0]) if rows else None

    def cases_for_message(self, key: str) -> list[Case]:
        return self._cases("WHERE source_message_key = ?", (key,))

    def open_cases(self) -> list[Case]:
        return self._cases("WHERE status = 'open'")

    def all_cases(self) -> list[Case]:
        return self._cases()

    def update_case(self, code: str, **fields) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"unknown case field(s): {', '.join(sorted(unknown))}")
        if not fields:
            return
        sets, params = [], []
        for name, value in fields.items():
            if name == "person":
                sets.append("person_enc = ?")
                params.append(self.vault.encrypt_json(value or {}, self._person_ctx(code)))
            elif name == "sw_worker":
                sets.append("sw_worker_enc = ?")
                params.append(None if value is None else self.vault.encrypt_json(value, self._sw_ctx(code)))
            elif name in ("sw_known", "sw_open"):
                sets.append(f"{name} = ?")
                params.append(_bool_or_none(value))
            elif name == "detained":
                sets.append("detained = ?")
                params.append(1 if value else 0)
            elif name in ("referred_on", "closed_on", "next_meeting"):
                sets.append(f"{name} = ?")
                params.append(_iso(value))
            elif name == "status":
                if value not in ("open", "closed"):
                    raise ValueError(f"bad case status {value!r}")
                sets.append("status = ?")
                params.append(value)
            else:
                sets.append(f"{name} = ?")
                params.append(value)
        with self.transaction() as conn:
            cur = conn.execute(f"UPDATE cases SET {', '.join(sets)} WHERE code = ?", (*params, code))
            if cur.rowcount == 0:
                raise StoreError(f"There is no case {code}.")
            if "person" in fields:
                self._people_changed()

    def _people_changed(self) -> None:
        # A fresh random token in the same transaction as the change: a rolled-back change leaves the
        # old token, and a token is never reused, so a cache keyed on it is never stale.
        self.set_value("people_version", uuid.uuid4().hex)

    def people_version(self) -> str:
        """Changes whenever any case's names change (as this thread's connection sees the database)."""
        return self.get_value("people_version") or ""

    def protected_names(self) -> list[dict]:
        """Every case's person dict (open and closed), for the outbound leak gate.

        Decrypting every case for every outgoing message would make a backlog quadratic, so the list
        is cached on people_version (read first: a change committed in between only adds names)."""
        version = self.people_version()
        with self._lock:
            hit = self._people_cache.get(version)
        if hit is not None:
            return hit
        rows = self._conn().execute("SELECT code, person_enc FROM cases ORDER BY number, letter").fetchall()
        # a case whose sealed record is unchanged is not decrypted again (a backlog adds one case at a time)
        with self._lock:
            known = dict(self._person_plain)
        people = []
        fresh = {}
        for code, enc in rows:
            if enc is None:
                continue
            hit = known.get(code)
            if hit is None or hit[0] != enc:
                hit = (enc, self.vault.decrypt_json(enc, self._person_ctx(code)))
            fresh[code] = hit
            people.append(hit[1])
        with self._lock:
            self._people_cache = {version: people}
            self._person_plain = fresh
        return people

    # -- master list state -------------------------------------------------

    def mark_master_list_dirty(self) -> None:
        self.set_value("master_list_dirty", "1")

    def master_list_dirty(self) -> bool:
        return self.get_value("master_list_dirty") == "1"

    def clear_master_list_dirty(self) -> None:
        self.set_value("master_list_dirty", "0")

    def next_master_list_version(self) -> int:
        with self.transaction():
            version = int(self.get_value("master_list_version") or 0) + 1
            self.set_value("master_list_version", str(version))
            return version

    # -- outbox ------------------------------------------------------------

    def enqueue(self, mail: OutgoingMail, *, now: float | None = None) -> bool:
        """Queue one email. False (and nothing changes) if message_id is already queued."""
        recipients = list(mail.recipients)
        if not recipients or not all(isinstance(r, str) and r for r in recipients):
            raise ValueError("an outgoing mail needs at least one recipient address")
        if not mail.message_id:
            raise ValueError("an outgoing mail needs a message_id")
        now = time.time() if now is None else now
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO outbox (message_id, kind, case_code, sender, recipients, raw, status, "
                "attempts, next_try, created_at, rule, reason) VALUES (?,?,?,?,?,?,'pending',0,?,?,?,?)",
                (mail.message_id, mail.kind or "", mail.case_code, mail.sender, json.dumps(recipients),
                 bytes(mail.raw), now, now, mail.rule or "", mail.reason or ""))
            if cur.rowcount == 0:
                return False
            self.audit(mail.kind, mail.message_id, mail.case_code, recipients, mail.rule, mail.reason,
                       event="queued", now=now)
            return True

    _OUTBOX_COLUMNS = ("id", "message_id", "kind", "case_code", "sender", "recipients", "raw", "status",
                       "attempts", "next_try", "last_error", "created_at", "sent_at", "rule", "reason",
                       "delivered")

    def _items(self, where: str, params=(), limit: int | None = None) -> list[OutboxItem]:
        sql = f"SELECT {', '.join(self._OUTBOX_COLUMNS)} FROM outbox {where} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        out = []
        for row in self._conn().execute(sql, params).fetchall():
            d = dict(zip(self._OUTBOX_COLUMNS, row))
            d["recipients"] = json.loads(d["recipients"])
            d["delivered"] = json.loads(d["delivered"] or "[]")
            d["raw"] = bytes(d["raw"])
            if d["raw"].startswith(_HELD_PREFIX):
                d["raw"] = self.vault.decrypt(d["raw"][len(_HELD_PREFIX):], _HELD_CONTEXT)
            out.append(OutboxItem(**d))
        return out

    def due(self, now: float, limit: int = 100) -> list[OutboxItem]:
        """Pending items whose next try is due, oldest first."""
        return self._items("WHERE status = 'pending' AND next_try <= ?", (now,), limit)

    def get_outbox_item(self, item_id: int) -> OutboxItem | None:
        found = self._items("WHERE id = ?", (item_id,))
        return found[0] if found else None

    def next_due_time(self) -> float | None:
        row = self._conn().execute("SELECT MIN(next_try) FROM outbox WHERE status = 'pending'").fetchone()
        return row[0] if row else None

    def _update_item(self, item_id: int, sql: str, params=()) -> None:
        with self.transaction() as conn:
            conn.execute(f"UPDATE outbox SET {sql} WHERE id = ?", (*params, item_id))

    def _audit_item(self, item_id: int, event: str, reason: str, recipients=None, now=None) -> None:
        row = self._conn().execute(
            "SELECT kind, message_id, case_code, recipients, rule FROM outbox WHERE id = ?", (item_id,)).fetchone()
        if row:
            kind, message_id, case_code, rcpts, rule = row
            self.audit(kind, message_id, case_code, json.loads(rcpts) if recipients is None else recipients,
                       rule, reason, event=event, now=now)

    def mark_sending(self, item_id: int) -> None:
        self._update_item(item_id, "status = 'sending', attempts = attempts + 1")

    def mark_sent(self, item_id: int, *, note: str = "", now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.transaction() as conn:
            row = conn.execute("SELECT recipients, delivered FROM outbox WHERE id = ?", (item_id,)).fetchone()
            done = json.loads(row[1] or "[]") if row else []
            done += [r for r in (json.loads(row[0]) if row else []) if r not in done]
            self._update_item(item_id, "status = 'sent', sent_at = ?, last_error = ?, delivered = ?",
                              (now, note, json.dumps(done)))
            self._audit_item(item_id, "sent", note, now=now)

    def mark_retry(self, item_id: int, error: str, next_try: float) -> None:
        self._update_item(item_id, "status = 'pending', last_error = ?, next_try = ?", (error, next_try))

    def mark_partial(self, item_id: int, delivered: list[str], remaining: list[str], error: str,
                     next_try: float) -> None:
        """Some recipients accepted the mail: remember them, retry only the rest."""
        with self.transaction() as conn:
            row = conn.execute("SELECT delivered FROM outbox WHERE id = ?", (item_id,)).fetchone()
            done = json.loads(row[0] or "[]") if row else []
            done += [r for r in delivered if r not in done]
            self._audit_item(item_id, "sent", "partial delivery", recipients=list(delivered))
            conn.execute("UPDATE outbox SET status = 'pending', recipients = ?, delivered = ?, last_error = ?, "
                         "next_try = ? WHERE id = ?",
                         (json.dumps(list(remaining)), json.dumps(done), error, next_try, item_id))

    def mark_failed(self, item_id: int, error: str) -> None:
        with self.transaction():
            self._update_item(item_id, "status = 'failed', last_error = ?", (error,))
            self._audit_item(item_id, "failed", error)

    def mark_held(self, item_id: int, reason: str) -> None:
        """Hold an item for a person. Its bytes may hold a name (the leak gate stopped it), so they are
        encrypted with the vault key before anything else: the database never keeps them in clear."""
        with self.transaction() as conn:
            row = conn.execute("SELECT raw FROM outbox WHERE id = ?", (item_id,)).fetchone()
            if row is not None and not bytes(row[0]).startswith(_HELD_PREFIX):
                sealed = _HELD_PREFIX + self.vault.encrypt(bytes(row[0]), _HELD_CONTEXT)
                conn.execute("UPDATE outbox SET raw = ? WHERE id = ?", (sealed, item_id))
            self._update_item(item_id, "status = 'held', last_error = ?", (reason,))
            self._audit_item(item_id, "held", reason)

    def release_held(self, item_id: int, now: float | None = None) -> None:
        """Coordinator decision: send a held item after all (it passes the gate again)."""
        now = time.time() if now is None else now
        self._update_item(item_id, "status = 'pending', next_try = ? ", (now,))

    def recover_in_flight(self) -> int:
        """At start-up: items left 'sending' by a crash go back to 'pending'.

        (If the crash came after the server's 250 but before mark_sent, the
        mail is sent again with the same Message-ID: SMTP cannot do better.)"""
        with self.transaction() as conn:
            cur = conn.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
            if cur.rowcount:
                log.warning("%d outgoing mail(s) were in flight at the last stop; they will be retried",
                            cur.rowcount)
            return cur.rowcount

    def outbox_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in ("pending", "sending", "sent", "failed", "held")}
        for status, n in self._conn().execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"):
            counts[status] = n
        return counts

    def outbox_items(self, status: str | None = None) -> list[OutboxItem]:
        if status is None:
            return self._items("")
        return self._items("WHERE status = ?", (status,))

    def outbox_items_of_kind(self, kind: str, case_code: str | None = None) -> list[OutboxItem]:
        """Read-only: every outbox item of one kind (optionally for one case), oldest first."""
        if case_code is None:
            return self._items("WHERE kind = ?", (kind,))
        return self._items("WHERE kind = ? AND case_code = ?", (kind, case_code))

    def outbox_heads(self, kind: str, head_bytes: int = 4096) -> list[dict]:
        """Read-only: id, message_id, case_code, recipients, status and the first ``head_bytes`` of the raw
        message (its headers) of every outbox item of one kind, oldest first. Cheap: no attachments read."""
        names = ("id", "message_id", "case_code", "recipients", "status", "head")
        rows = self._conn().execute(
            "SELECT id, message_id, case_code, recipients, status, substr(raw, 1, ?) FROM outbox "
            "WHERE kind = ? ORDER BY id", (int(head_bytes), kind)).fetchall()
        out = []
        for row in rows:
            d = dict(zip(names, row))
            d["recipients"] = json.loads(d["recipients"])
            d["head"] = bytes(d["head"])
            out.append(d)
        return out

    # -- audit -------------------------------------------------------------

    def audit(self, kind, message_id, case_code, recipients, rule, reason, *, event: str = "note",
              now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO audit (at, event, kind, message_id, case_code, recipients, rule, reason) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (now, event, kind or "", message_id, case_code, json.dumps(list(recipients or [])),
                 rule or "", reason or ""))

    def audit_rows(self, case_code: str | None = None) -> list[dict]:
        names = ("id", "at", "event", "kind", "message_id", "case_code", "recipients", "rule", "reason")
        sql = f"SELECT {', '.join(names)} FROM audit"
        params: tuple = ()
        if case_code is not None:
            sql += " WHERE case_code = ?"
            params = (case_code,)
        rows = []
        for row in self._conn().execute(sql + " ORDER BY id", params):
            d = dict(zip(names, row))
            d["recipients"] = json.loads(d["recipients"])
            rows.append(d)
        return rows

    def audit_rows_after(self, after_id: int = 0, events=None) -> list[dict]:
        """Read-only: audit rows with id above ``after_id`` (optionally only these events), oldest first."""
        names = ("id", "at", "event", "kind", "message_id", "case_code", "recipients", "rule", "reason")
        sql = f"SELECT {', '.join(names)} FROM audit WHERE id > ?"
        params: list = [int(after_id)]
        if events is not None:
            events = list(events)
            sql += f" AND event IN ({', '.join('?' * len(events))})"
            params += events
        rows = []
        for row in self._conn().execute(sql + " ORDER BY id", params):
            d = dict(zip(names, row))
            d["recipients"] = json.loads(d["recipients"])
            rows.append(d)
        return rows

    def last_audit_id(self) -> int:
        row = self._conn().execute("SELECT MAX(id) FROM audit").fetchone()
        return int(row[0] or 0)

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

    def add_held_form(self, codes: list[str], reason: str, location: str, payload: dict,
                      now: float | None = None) -> int:
        """Keep a referral form for the coordinator's review; its payload (the form, the reading,
        who sent it) is sealed with the vault key. Returns the hold's number (H<n>)."""
        sealed = self.vault.encrypt_json(payload, self._HELD_FORM_CONTEXT)
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO held_forms (created, codes, reason, location, sealed) VALUES (?, ?, ?, ?, ?)",
                (time.time() if now is None else now, ",".join(codes), reason, location, sealed))
            return int(cur.lastrowid)

    def held_form(self, hold_id: int) -> tuple[dict, dict] | None:
        """(row, payload) of a held form, or None."""
        row = self._conn().execute(
            "SELECT id, created, codes, status, reason, location, sealed, decision FROM held_forms WHERE id = ?",
            (int(hold_id),)).fetchone()
        if row is None:
            return None
        info = {"id": row[0], "created": row[1], "codes": row[2].split(",") if row[2] else [],
                "status": row[3], "reason": row[4], "location": row[5], "decision": row[7]}
        return info, self.vault.decrypt_json(bytes(row[6]), self._HELD_FORM_CONTEXT)

    def held_forms(self, status: str = "held") -> list[dict]:
        rows = self._conn().execute(
            "SELECT id, created, codes, reason, location FROM held_forms WHERE status = ? ORDER BY id",
            (status,)).fetchall()
        return [{"id": r[0], "created": r[1], "codes": r[2].split(","), "reason": r[3], "location": r[4]}
                for r in rows]

    def decide_held_form(self, hold_id: int, status: str, decision: str, now: float | None = None) -> None:
        """Record the coordinator's decision; the sealed form is dropped (the case has its own record)."""
        with self.transaction() as conn:
            conn.execute("UPDATE held_forms SET status = ?, decision = ?, decided = ?, sealed = X'' "
                         "WHERE id = ?", (status, decision, time.time() if now is None else now, int(hold_id)))
    # -- commands waiting for the coordinator's confirmation (mailbot.casework.confirm) ---------------------

    _PENDING_CTX = b"pending-command"
    _PENDING_COLUMNS = ("id", "token_hash", "coordinator", "created_at", "expires_at", "commands_enc",
                        "summary", "source", "status", "finished_at", "finish_reason")

    def add_pending_commands(self, *, token_hash: str, coordinator: str, lines: list[str], summary: str,
                             source: str, expires_at: float, now: float | None = None) -> int:
        """Keep command lines until their coordinator confirms them. Only the token's hash is stored,
        and the lines are encrypted with the vault key (a line could hold a name written by mistake)."""
        now = time.time() if now is None else now
        enc = self.vault.encrypt_json(list(lines), self._PENDING_CTX + b":" + token_hash.encode())
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO pending_commands (token_hash, coordinator, created_at, expires_at, commands_enc, "
                "summary, source) VALUES (?,?,?,?,?,?,?)",
                (token_hash, coordinator, now, float(expires_at), enc, summary, source))
            return int(cur.lastrowid)

    def pending_commands(self, token_hash: str) -> dict | None:
        """The request for this token hash (any status), with its decrypted ``lines``; None if unknown."""
        row = self._conn().execute(
            f"SELECT {', '.join(self._PENDING_COLUMNS)} FROM pending_commands WHERE token_hash = ?",
            (token_hash,)).fetchone()
        if row is None:
            return None
        d = dict(zip(self._PENDING_COLUMNS, row))
        d["lines"] = self.vault.decrypt_json(bytes(d.pop("commands_enc")),
                                             self._PENDING_CTX + b":" + d["token_hash"].encode())
        return d

    def pending_command_requests(self, status: str | None = "pending") -> list[dict]:
        """Read-only: id, coordinator, created_at, expires_at, summary, status of every request (no lines)."""
        names = ("id", "coordinator", "created_at", "expires_at", "summary", "status", "finished_at",
                 "finish_reason")
        sql = f"SELECT {', '.join(names)} FROM pending_commands"
        params: tuple = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        return [dict(zip(names, r)) for r in self._conn().execute(sql + " ORDER BY id", params)]

    def finish_pending_commands(self, request_id: int, status: str, reason: str = "",
                                now: float | None = None) -> bool:
        """Mark a pending request done or cancelled; False when it was no longer pending (used once)."""
        if status not in ("done", "cancelled"):
            raise ValueError("status must be done or cancelled")
        now = time.time() if now is None else now
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE pending_commands SET status = ?, finished_at = ?, finish_reason = ? "
                "WHERE id = ? AND status = 'pending'", (status, now, reason, int(request_id)))
            return cur.rowcount == 1

    # -- exits -------------------------------------------------------------

    def record_exit(self, code: str, *, reason: str, closed_on: str | None, actor: str = "",
                    now: float | None = None) -> None:
        """The reason given for a case's exit (EXIT CN78 reason), kept with the case code."""
        now = time.time() if now is None else now
        with self.transaction() as conn:
            conn.execute("INSERT INTO case_exits (code, closed_on, reason, actor, at) VALUES (?,?,?,?,?)",
                         (code, closed_on, reason or "", actor or "", now))

    def exit_reason(self, code: str) -> str | None:
        """The reason recorded with the latest exit of this case, or None when none was recorded."""
        row = self._conn().execute("SELECT reason FROM case_exits WHERE code = ? ORDER BY id DESC LIMIT 1",
                                   (code,)).fetchone()
        return None if row is None else row[0]

    def seal_outgoing(self, message_id: str) -> bool:
        """Encrypt a queued message's bytes in place with the vault key (as a held one is sealed).

        For a message that carries a secret (a confirmation token): the database then holds it no more
        readably than a name. Reading the item back (due, get_outbox_item) decrypts it as before."""
        with self.transaction() as conn:
            row = conn.execute("SELECT raw FROM outbox WHERE message_id = ?", (message_id,)).fetchone()
            if row is None:
                return False
            if not bytes(row[0]).startswith(_HELD_PREFIX):
                sealed = _HELD_PREFIX + self.vault.encrypt(bytes(row[0]), _HELD_CONTEXT)
                conn.execute("UPDATE outbox SET raw = ? WHERE message_id = ?", (sealed, message_id))
            return True
