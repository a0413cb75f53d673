"""Key rotation, and the recovery of the key files after a rotation or restore was interrupted.

:func:`rotate_key` re-seals every value of :func:`mailbot.store.sealed.sealed_fields` with a new key in one
transaction; :func:`recover_key_files` (run by ``mailbot run`` at start, and by ``rotate-key``/``restore``)
finishes or undoes whatever a crash left: the key that opens the database ends as ``names.key``, the other
one is removed. Nothing here logs or prints a name: messages carry table names, row numbers and counts.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from mailbot.store.db_files import MaintenanceError, connect, integrity
from mailbot.store.key_files import (crash_point, fsync_dir, key_file_text, load_vault, new_key_path, old_key_path,
                                     put_new_key_in_place, remove, write_private)
from mailbot.store.sealed import key_fits, record_key, sealed_fields
from mailbot.store.vault import Vault, VaultError


# -- recovery after a crash -----------------------------------------------------------------------------------

def recover_key_files(key_path: Path, db_path: Path) -> str | None:
    """Finish or undo an interrupted rotation or restore (the caller holds the daemon's lock).

    Returns what was done (a line for the log), or None when there was nothing to do."""
    key_path, db_path = Path(key_path), Path(db_path)
    new, old = new_key_path(key_path), old_key_path(key_path)
    for leftover in key_path.parent.glob(f".{key_path.name}*.tmp"):  # a key file half written
        remove(leftover)
    if not new.exists() and not old.exists():
        return None
    if not key_path.exists():  # not by our hand (we never remove it); the kept key is the one to use
        os.replace(old if old.exists() else new, key_path)
        fsync_dir(key_path.parent)
    current = load_vault(key_path)
    conn = connect(db_path) if db_path.exists() else None
    try:
        if new.exists():
            candidate = load_vault(new)
            if conn is not None and key_fits(conn, candidate) and not key_fits(conn, current):
                put_new_key_in_place(key_path)
                return "an interrupted key change was finished: the new key is in place"
            remove(new)
            fsync_dir(key_path.parent)
            done = "an interrupted key change had not reached the database: the new key was discarded"
        else:
            done = "the previous key, kept during a key change, was removed"
        if old.exists():
            previous = load_vault(old)
            if conn is not None and key_fits(conn, previous) and not key_fits(conn, current):  # pragma: no cover
                os.replace(old, key_path)  # cannot happen in our order of steps; never lose the key that opens it
                done = "the key that opens the database was put back"
            else:
                remove(old)
            fsync_dir(key_path.parent)
        return done
    finally:
        if conn is not None:
            conn.close()


# -- key rotation ---------------------------------------------------------------------------------------------

@dataclass
class RotationReport:
    sealed: dict[str, int] = field(default_factory=dict)
    identities: int = 0
    seconds: float = 0.0


def rotate_key(key_path: Path, db_path: Path, *, new_master: bytes | None = None) -> RotationReport:
    """Re-encrypt every sealed value (and recompute the blind index) with a new key; the caller holds the lock.

    1. the new key is written beside the old one as names.key.new (0600, fsync);
    2. one transaction re-seals every value, recomputes every case's blind index and records the new key's
       fingerprint (all or nothing);
    3. names.key.new replaces names.key (the old one kept as names.key.old until then, then removed).
    A crash anywhere is finished or undone by recover_key_files()."""
    key_path, db_path = Path(key_path), Path(db_path)
    started = time.monotonic()
    recover_key_files(key_path, db_path)
    old = load_vault(key_path)
    if not db_path.exists():
        raise MaintenanceError(f"There is no mailbot database at {db_path}.")
    master = new_master if new_master is not None else os.urandom(32)
    new = Vault(master)
    report = RotationReport()
    conn = connect(db_path)
    try:
        integrity(conn, f"The mailbot database at {db_path}")
        if not key_fits(conn, old):
            raise VaultError(f"The key file {key_path} does not open the database at {db_path}; nothing was changed.")
        write_private(new_key_path(key_path), key_file_text(master))
        crash_point("new-key-written")
        conn.execute("PRAGMA secure_delete=ON")  # the old ciphertexts' pages are zeroed
        conn.execute("BEGIN IMMEDIATE")
        try:
            _reseal(conn, old, new, report)
            crash_point("before-commit")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            remove(new_key_path(key_path))
            raise
        crash_point("db-committed")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the old ciphertexts leave the WAL too
    finally:
        conn.close()
    put_new_key_in_place(key_path)
    report.seconds = time.monotonic() - started
    return report


def _reseal(conn: sqlite3.Connection, old: Vault, new: Vault, report: RotationReport) -> None:
    """In the open transaction: every sealed value re-sealed with ``new``, every case's blind index
    recomputed, the new key recorded, and the Store's cache of decrypted names invalidated."""
    items = list(sealed_fields(conn))
    for i, item in enumerate(items):
        plain = old.decrypt(item.blob, item.context)
        conn.execute(f'UPDATE "{item.table}" SET "{item.column}" = ? WHERE "{item.key_column}" = ?',
                     (item.prefix + new.encrypt(plain, item.context), item.key))
        report.sealed[item.table] = report.sealed.get(item.table, 0) + 1
        if item.person_of is not None:
            person = json.loads(plain.decode("utf-8")) or {}
            if person.get("name"):
                conn.execute("UPDATE cases SET identity = ? WHERE code = ? AND identity != ''",
                             (new.identity(person["name"], person.get("date_of_birth")), item.person_of))
                report.identities += 1
        if i == len(items) // 2:
            crash_point("rows-half-done")
    record_key(conn, new)
    # the Store's cache of decrypted names is keyed on people_version: a new one after the re-seal
    conn.execute("INSERT INTO kv (name, value) VALUES ('people_version', ?) ON CONFLICT(name) DO UPDATE "
                 "SET value = excluded.value", (os.urandom(16).hex(),))
