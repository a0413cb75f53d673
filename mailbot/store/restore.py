"""Restoring a backup in place of the database, the current database and key kept aside first.

Every step that replaces a file is an atomic rename, and the backup's key goes through ``names.key.new``,
so a crash at any point is finished by :func:`mailbot.store.key_rotation.recover_key_files`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from mailbot.store.backup import read_backup
from mailbot.store.db_files import MaintenanceError, connect, integrity, row_counts, tables
from mailbot.store.key_files import (crash_point, fsync_dir, fsync_file, key_file_text, new_key_path,
                                     put_new_key_in_place, read_key, remove, write_private)
from mailbot.store.key_rotation import recover_key_files
from mailbot.store.sealed import check_key_opens, record_key
from mailbot.store.vault import Vault, VaultError


@dataclass
class RestoreReport:
    db: Path
    schema_version: int
    rows: dict[str, int]
    key_changed: bool
    kept: Path | None
    created: str


def restore(src: Path, db_path: Path, key_path: Path, *, key_file: Path | None = None,
            now: float | None = None) -> RestoreReport:
    """Put a backup in place of the database (the caller holds the daemon's lock, so no mailbot runs).

    The backup is checked (manifest, integrity, every sealed value opens with its key) on a copy in the data
    folder; the current database and key are kept in ``before-restore-<time>/``; then the copy replaces the
    database by an atomic rename, and the backup's key replaces the key the same way (through names.key.new,
    so that a crash in between is finished by recover_key_files)."""
    db_path, key_path = Path(db_path), Path(key_path)
    manifest, db, key = read_backup(src, key_file=key_file)
    recover_key_files(key_path, db_path)
    backup_master = read_key(key)
    vault = Vault(backup_master)
    data_dir = db_path.parent
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{db_path.name}.restore.tmp"
    remove(tmp)
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out, open(db, "rb") as fh:
        shutil.copyfileobj(fh, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    try:
        version, rows = _check_copy(tmp, vault, src)
        fsync_file(tmp)
        key_changed = not key_path.exists() or read_key(key_path) != backup_master
        kept = _keep_current(db_path, key_path, now)
        if key_changed:
            if key_path.exists():
                write_private(new_key_path(key_path), key_file_text(backup_master))
            else:
                write_private(key_path, key_file_text(backup_master))
        crash_point("restore-key-staged")
        for suffix in ("-wal", "-shm"):  # the old database's WAL must never be applied to the restored one
            remove(db_path.with_name(db_path.name + suffix))
        os.replace(tmp, db_path)
        fsync_dir(data_dir)
        crash_point("restore-db-replaced")
    except BaseException:
        remove(tmp)
        raise
    if new_key_path(key_path).exists():
        put_new_key_in_place(key_path)
    return RestoreReport(db_path, version, rows, key_changed, kept, str(manifest.get("created", "")))


def _check_copy(tmp: Path, vault: Vault, src: Path) -> tuple[int, dict[str, int]]:
    """The copy's schema version and rows per table, once every sealed value is seen to open with the backup's
    key; the copy then records that key as the one it is sealed with."""
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        version = integrity(conn, f"The backup in {src}")
        try:
            check_key_opens(conn, vault)
        except VaultError as exc:
            raise MaintenanceError(f"The backup does not open with its key: {exc}") from None
        rows = row_counts(conn)
        if "kv" in tables(conn):  # the database now records which key it is sealed with
            record_key(conn, vault)
    finally:
        conn.close()
    return version, rows


def _keep_current(db_path: Path, key_path: Path, now: float | None) -> Path | None:
    """The current database and key linked into ``before-restore-<time>/`` (None when there are none)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    if not (db_path.exists() or key_path.exists()):
        return None
    kept = db_path.parent / f"before-restore-{stamp}"
    kept.mkdir(mode=0o700)
    if db_path.exists():
        old = connect(db_path)
        try:
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
        finally:
            old.close()
        os.link(db_path, kept / db_path.name)
    if key_path.exists():
        os.link(key_path, kept / key_path.name)
    fsync_dir(kept)
    return kept
